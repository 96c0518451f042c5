"""The token in a signer's confirmation link: signed with the secret key, tied to the signature
and its email address, valid for CAMPAIGN_TOKEN_MAX_AGE_DAYS. And a signature's id sealed for the
session cookie, which its holder can read."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import BadToken
from .extensions import db
from .models import Signature


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="confirm-signature")


def make_token(signature: Signature) -> str:
    return str(_serializer().dumps({"s": signature.id, "e": _email_tag(signature)}))


def _email_tag(signature: Signature) -> str:
    return hashlib.sha256((signature.email or "").encode()).hexdigest()[:12]


def signature_for_token(token: str) -> Signature:
    """The signature a link stands for; BadToken says why the link cannot be used."""
    max_age = int(current_app.config["TOKEN_MAX_AGE_DAYS"]) * 86400
    serializer = _serializer()
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:  # its payload is still encoded, but its signature is good
        try:
            sid = _payload_id(serializer.load_payload(exc.payload)) if exc.payload else None
        except BadSignature:
            sid = None
        raise BadToken("This link has expired.", sid) from None
    except BadSignature:
        raise BadToken("This link is not valid: it may have been cut off or changed.") from None
    sid = _payload_id(payload)
    signature = db.session.get(Signature, sid) if sid else None
    if signature is None or payload.get("e") != _email_tag(signature):
        raise BadToken("This link is not valid: it may have been cut off or changed.")
    return signature


def _payload_id(payload: object) -> int | None:
    if isinstance(payload, dict) and isinstance(payload.get("s"), int):
        return int(payload["s"])
    return None


def seal(signature_id: int) -> str:
    """A signature's id as only this app can read it back (unseal()): a random nonce, and the id
    masked with a keyed digest of it. For the session cookie, whose holder can read it: a sealed
    id says nothing, not even whether the signature is an old one or was made just now."""
    nonce = secrets.token_hex(8)
    return f"{nonce}.{signature_id ^ _mask(nonce):x}"


def unseal(sealed: object) -> int | None:
    """The id seal() sealed, or None for anything else."""
    if not isinstance(sealed, str) or sealed.count(".") != 1:
        return None
    nonce, masked = sealed.split(".")
    try:
        number = int(masked, 16) ^ _mask(nonce)
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def _mask(nonce: str) -> int:
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"sealed-signature:{nonce}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8])
