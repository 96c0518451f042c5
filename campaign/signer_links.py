"""A signer's personal links to their own page: a long random token in the address, only its
SHA-256 kept (SignerLink). A signature may have several links: the one shown after confirming
and sent in the receipt, and one in each later email that asks something of the signer (to
confirm a changed text); each stays good while the signature is kept."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import insert, select

from .database import UNIT, WriteOutsideUnit
from .extensions import db
from .models import Signature, SignerLink, utcnow

TOKEN_BYTES = 32  # 43 characters of URL-safe base64
MAX_TOKEN = 100   # longer is no token of ours: refused before hashing


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def create(signature: Signature) -> str:
    """A new link's token for `signature`, kept hashed, in the caller's writing unit."""
    if db.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit("a signer's link is made in a writing unit")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    db.session.add(SignerLink(signature_id=signature.id, token_hash=_digest(token)))
    db.session.flush()
    return token


def create_many(signature_ids: Sequence[int]) -> dict[int, str]:
    """A new link's token for each signature id, kept hashed, in the caller's writing unit: one
    executemany INSERT (an email to thousands of signers, each with their own link)."""
    if db.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit("a signer's link is made in a writing unit")
    tokens = {ident: secrets.token_urlsafe(TOKEN_BYTES) for ident in signature_ids}
    if tokens:
        now = utcnow()
        db.session.connection().execute(insert(SignerLink), [
            {"signature_id": ident, "token_hash": _digest(token), "created_at": now}
            for ident, token in tokens.items()])
    return tokens


def signature_for(token: str) -> Signature | None:
    """The signature a link's token stands for, or None (unknown, malformed, too long)."""
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        return None
    return db.session.scalar(
        select(Signature).join(SignerLink, SignerLink.signature_id == Signature.id)
        .where(SignerLink.token_hash == _digest(token)))
