"""The token in a signer's confirmation link: signed with the secret key, tied to the signature
and its email address, valid for CAMPAIGN_TOKEN_MAX_AGE_DAYS. The token in an update's
unsubscribe link, which never expires. And a typed address sealed for the session cookie, which
its holder can read."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

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
        raise BadToken(_("This link has expired."), sid) from None
    except BadSignature:
        raise BadToken(_("This link is not valid: it may have been cut off or changed.")) \
            from None
    sid = _payload_id(payload)
    signature = db.session.get(Signature, sid) if sid else None
    if signature is None or payload.get("e") != _email_tag(signature):
        raise BadToken(_("This link is not valid: it may have been cut off or changed."))
    return signature


def unsubscribe_token(signature_id: int) -> str:
    """The token in an update's unsubscribe link: the signature's id, signed, with no expiry (an
    old email's link must still work) and no email address in it."""
    return str(URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")
               .dumps({"s": signature_id}))


def unsubscribe_id(token: str) -> int | None:
    """The signature id an unsubscribe token stands for, or None for anything else."""
    if len(token) > 200:
        return None
    try:
        payload = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe") \
            .loads(token)
    except BadSignature:
        return None
    return _payload_id(payload)


def _payload_id(payload: object) -> int | None:
    if isinstance(payload, dict) and isinstance(payload.get("s"), int):
        return int(payload["s"])
    return None


MAX_SEALED = 320  # bytes: an email address has at most 254
NONCE, TAG = 12, 16  # bytes


def seal(text: str) -> str:
    """`text` (a typed address) as only this app can read it back (unseal()), for the session
    cookie, which its holder can read: a random nonce, the text's UTF-8 XORed with a keyed
    stream (HMAC-SHA256 of the nonce and a block counter, as in counter mode), and a tag (an
    HMAC of both) so that no bit of it can be changed. Keys are derived from SECRET_KEY, one
    for each use; a fresh nonce makes two seals of one text unlike."""
    data = text.encode()[:MAX_SEALED]
    nonce = secrets.token_bytes(NONCE)
    sealed = nonce + _xor(data, nonce)
    return base64.urlsafe_b64encode(sealed + _tag(sealed)).decode().rstrip("=")


def unseal(sealed: object) -> str | None:
    """The text seal() sealed, or None for anything else (changed, cut, sealed with another
    key)."""
    if not isinstance(sealed, str) or len(sealed) > 2 * MAX_SEALED:
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except ValueError:
        return None
    body, tag = raw[:-TAG], raw[-TAG:]
    if len(body) <= NONCE or not hmac.compare_digest(tag, _tag(body)):
        return None
    try:
        return _xor(body[NONCE:], body[:NONCE]).decode()
    except UnicodeDecodeError:
        return None


def _key(use: str) -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"campaign seal {use}".encode(), hashlib.sha256).digest()


def _tag(data: bytes) -> bytes:
    return hmac.new(_key("tag"), data, hashlib.sha256).digest()[:TAG]


def _xor(data: bytes, nonce: bytes) -> bytes:
    key = _key("stream")
    stream = b"".join(hmac.new(key, nonce + block.to_bytes(4), hashlib.sha256).digest()
                      for block in range((len(data) + 31) // 32))
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))
