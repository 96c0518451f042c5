"""Durable email: queued in the caller's transaction; a worker claims, writes (emails.py), sends,
retries, gives up; never sends one twice."""
from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from flask_mail import BadHeaderError, Connection, Message
from sqlalchemy import Select, Table, bindparam, func, insert, literal, or_, select, update

from . import audit, emails
from .database import UNIT, WriteOutsideUnit, changed, reading, writing
from .extensions import db
from .models import OutboxAttachment, OutboxMessage, utcnow
from .queue import Claim, Queue
from .text import one_line

log = logging.getLogger(__name__)

def enqueue(kind: str, recipient: str, *, attachments: Sequence[tuple[str, str, bytes]] = (),
            **params: Any) -> int:
    """Queue an email of `kind` (one of emails.KINDS) about `params` (ids and flags) in the
    caller's writing unit; the worker writes and sends it after commit. `attachments` are
    (filename, content type, data) triples, kept with the message. Returns the message's id.

    Core INSERTs on the unit's connection: a queued message is written, never read back, so
    the ORM's object and flush (most of a signature's time under SQLite's write lock) are not
    needed."""
    if db.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit(f"an email ({kind}) queued outside database.writing()")
    connection = db.session.connection()
    message_id: int = connection.execute(_INSERT_MESSAGE, {
        "kind": kind, "recipient": one_line(recipient), "params": json.dumps(params),
        "now": utcnow()}).scalar_one()
    if attachments:
        connection.execute(insert(OutboxAttachment), [
            {"message_id": message_id, "filename": one_line(name)[:200],
             "content_type": content_type, "data": data}
            for name, content_type, data in attachments])
    return message_id


_MESSAGE = OutboxMessage.__table__
assert isinstance(_MESSAGE, Table)
_INSERT_MESSAGE = _MESSAGE.insert().values(
    kind=bindparam("kind"), recipient=bindparam("recipient"), params=bindparam("params"),
    subject="", body_text="", body_html="", status="queued", attempts=0, last_error="",
    send_after=bindparam("now"), created_at=bindparam("now"),
).returning(_MESSAGE.c.id)


def enqueue_selected(kind: str, rows: Select[str | None, str]) -> int:
    """Queue an email of `kind` for each row of `rows` (a SELECT of the recipient and the
    params' JSON) in the caller's writing unit, as one INSERT ... SELECT: an update to
    thousands of signers holds SQLite's write lock for milliseconds, and no row passes through
    Python. Returns how many were queued."""
    if db.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit(f"emails ({kind}) queued outside database.writing()")
    found = rows.subquery()
    now = bindparam("now", utcnow(), type_=OutboxMessage.due.type)
    columns = {"kind": literal(kind), "recipient": found.c[0], "params": found.c[1],
               "subject": literal(""), "body_text": literal(""), "body_html": literal(""),
               "status": literal("queued"), "attempts": literal(0), "last_error": literal(""),
               "send_after": now, "created_at": now}
    result = db.session.connection().execute(
        insert(OutboxMessage).from_select(list(columns), select(*columns.values())),
        execution_options={"preserve_rowcount": True})  # else PostgreSQL's is -1 for an INSERT
    return changed(result)


def enqueue_many(kind: str, messages: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Queue an email of `kind` to each (recipient, params) in the caller's writing unit, in one
    executemany INSERT: for params made in Python, such as each signer's own link (re-consent),
    which enqueue_selected cannot select. Returns how many were queued."""
    if db.session.info.get(UNIT) != "writing":
        raise WriteOutsideUnit(f"emails ({kind}) queued outside database.writing()")
    now = utcnow()
    rows = [{"kind": kind, "recipient": one_line(recipient), "params": json.dumps(params),
             "subject": "", "body_text": "", "body_html": "", "status": "queued",
             "attempts": 0, "last_error": "", "send_after": now, "created_at": now}
            for recipient, params in messages]
    if rows:
        db.session.connection().execute(insert(OutboxMessage), rows)
    return len(rows)


# ------------------------------------------------------------------ delivery


class TimeoutConnection(Connection):
    """Flask-Mail's connection with a socket timeout, so a hung server cannot block the worker."""

    def __init__(self, mail: Any, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        cls = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = cls(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """QUIT only after success: after a failure (a timeout) Flask-Mail's QUIT on the dropped
        connection raised 'please run connect() first', hiding the real error."""
        if self.host is not None:
            if exc_type is None:
                self.host.quit()
            else:
                self.host.close()


def lease_seconds() -> float:
    return float(current_app.config["MAIL_TIMEOUT"]) * 4 + 60


QUEUE = Queue(OutboxMessage, working="sending", done="sent", dead="dead",
              lease_seconds=lease_seconds,
              max_attempts=lambda: int(current_app.config["MAIL_MAX_ATTEMPTS"]))


def claim(limit: int, now: datetime | None = None) -> list[Claim]:
    """Take up to `limit` due messages for this worker (in the caller's writing unit)."""
    return QUEUE.claim(limit, now)


def send_due(limit: int = 100) -> int:
    """Send what is due now; returns how many were sent."""
    if not QUEUE.any_due():
        return 0
    with writing():
        claims = claim(limit)
    return send_claimed(claims)


def send_claimed(claims: Sequence[Claim]) -> int:
    """Write and send claimed messages, each only while this worker still holds it; returns how
    many were sent. A down or hung server leaves them queued for a later try."""
    if not claims:
        return 0
    sent = 0
    if current_app.config["MAIL_SUPPRESS_SEND"]:
        for each in claims:
            taken = _take(each)
            if taken is not None:
                _write_locally(*taken)
                _mark_sent(*taken)
                sent += 1
        return sent
    waiting = list(claims)
    try:
        timeout = current_app.config["MAIL_TIMEOUT"]
        with TimeoutConnection(current_app.extensions["mail"], timeout) as conn:
            while waiting:
                taken = _take(waiting[0])
                if taken is not None and _send_one(conn, *taken):
                    sent += 1
                waiting.pop(0)
    except (OSError, smtplib.SMTPException) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("mail server unavailable (%s); will retry", reason)
        for each in waiting:
            _mark_failed(each, reason)
    return sent


def _take(each: Claim) -> tuple[OutboxMessage, emails.Written] | None:
    """Renew this worker's lease on a claimed message just before sending it, and write it
    (outside the write lock); None when it is no longer this worker's (sent, failed, or taken
    over by another worker after the lease ran out), so that a slow batch never sends a message
    twice; None too when it cannot be written (it is given up)."""
    if not QUEUE.renew(each):
        return None
    with reading():
        message = db.session.get(OutboxMessage, each.id)
        if message is None:
            return None
        try:
            return message, _written(message)
        except emails.Skip as exc:
            skipped, reason = True, f"skipped: {exc}"
        except emails.Unwritable as exc:
            skipped, reason = False, f"cannot be written: {exc}"
    if skipped:
        _mark_skipped(message, reason)
    else:
        _mark_failed(each, reason, final=True)
    return None


def _written(message: OutboxMessage) -> emails.Written:
    """What the message says: as it was written before (a retry, or a message queued before
    messages were written when sent), or written now. A message that carries a signer's
    personal link is always written again: what was kept of it has the link taken out."""
    params = json.loads(message.params) if message.params else {}
    if (message.body_text and not _token_of(message)) or not params:
        return emails.Written(message.subject, message.body_text, message.body_html)
    return emails.write(message.kind, params)


def _send_one(conn: TimeoutConnection, message: OutboxMessage, written: emails.Written) -> bool:
    """Send one message. A failure that is the message's own (a refused recipient, an address or
    header the server cannot take) is recorded on it and the next message goes on; a failure of
    the connection is raised. What is kept of a failed one has no signer's link in it."""
    kept = _without_token(message, written)
    try:
        conn.send(_as_mail(message, written))
    except smtplib.SMTPRecipientsRefused as exc:
        _mark_failed(claim_of(message), f"recipient refused: {exc.recipients!r}"[:500],
                     final=True, written=kept)
    except smtplib.SMTPServerDisconnected:
        raise
    except smtplib.SMTPResponseException as exc:  # refused at MAIL FROM or DATA
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        _mark_failed(claim_of(message), f"{exc.smtp_code} {detail}"[:500],
                     final=exc.smtp_code >= 500, written=kept)
    except (ValueError, BadHeaderError) as exc:  # e.g. an address that needs SMTPUTF8
        _mark_failed(claim_of(message), f"cannot be sent: {type(exc).__name__}: {exc}"[:500],
                     final=True, written=kept)
        if conn.host is not None:
            conn.host.rset()  # end the half-begun transaction; raises if the connection is gone
    else:
        _mark_sent(message, written)
        return True
    return False


def _as_mail(message: OutboxMessage, written: emails.Written) -> Message:
    mail = Message(
        subject=one_line(written.subject),
        recipients=[one_line(message.recipient)],
        body=written.text,
        html=written.html or None,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers=emails.headers(message.kind, json.loads(message.params or "{}")) or None,
    )
    with reading():
        for attachment in message.attachments:
            mail.attach(attachment.filename, attachment.content_type, attachment.data)
    return mail


def claim_of(message: OutboxMessage) -> Claim:
    return Claim(message.id, message.attempts)


def _mark_sent(message: OutboxMessage, written: emails.Written) -> None:
    """Sent: kept as it was sent, but for a signer's personal link (_without_token)."""
    kept = _without_token(message, written)
    with writing():
        QUEUE.finish(claim_of(message), sent_at=utcnow(), subject=one_line(kept.subject)[:300],
                     body_text=kept.text, body_html=kept.html,
                     **_params_without_token(message))
    log.info("sent message %s (%s)", message.id, message.kind)


# A message's params may carry a signer's personal link under this key (the receipt, a request to
# confirm a changed text): needed to write the message, not kept once it is sent.
TOKEN = "token"
REMOVED = "(removed once sent)"


def _token_of(message: OutboxMessage) -> str:
    params = json.loads(message.params) if message.params else {}
    token = params.get(TOKEN) if isinstance(params, dict) else None
    return token if isinstance(token, str) and token != REMOVED else ""


def _without_token(message: OutboxMessage, written: emails.Written) -> emails.Written:
    """What is kept of a written message: the signer's link taken out of its subject and
    bodies, so that the outbox (and whoever reads the database) cannot open their page."""
    token = _token_of(message)
    if not token:
        return written
    return emails.Written(*(part.replace(token, REMOVED)
                            for part in (written.subject, written.text, written.html)))


def _params_without_token(message: OutboxMessage) -> dict[str, str]:
    """The message's params to keep once it is sent: its signer's link, if any, taken out."""
    if not _token_of(message):
        return {}
    return {"params": json.dumps({**json.loads(message.params or "{}"), TOKEN: REMOVED})}


def _mark_skipped(message: OutboxMessage, reason: str) -> None:
    """No longer wanted (emails.Skip: its signer withdrew, unsubscribed or already agreed after
    it was queued): done, unsent (no sent_at), with why in last_error and nothing written or any
    signer's link kept; not among the undelivered mail (dead_messages)."""
    with writing():
        db.session.execute(
            update(OutboxMessage).where(*QUEUE.holds(claim_of(message)))
            .values(status=QUEUE.done, last_error=reason[:500], body_text="", body_html="",
                    **_params_without_token(message))
            .execution_options(synchronize_session=False))
    log.info("skipped message %s (%s): %s", message.id, message.kind, reason)


def _mark_failed(each: Claim, reason: str, final: bool = False,
                 written: emails.Written | None = None) -> None:
    """Not sent: queued again after a pause, or given up; unless this worker's claim on it has
    ended meanwhile. What was written is kept, so the mail page shows what failed to go. Given
    up, it keeps no signer's link either (_forget_link)."""
    kept = {} if written is None else {"subject": one_line(written.subject)[:300],
                                       "body_text": written.text, "body_html": written.html}
    if QUEUE.fail(each, reason, final, **kept) == "dead":
        _forget_link(each.id)
        log.error("gave up on message %s after %s attempts", each.id, each.attempt)


def _forget_link(message_id: int) -> None:
    """Take the signer's personal link (or an invitation's) out of a message given up: a dead
    row is kept for the mail page, and whoever reads the database must not open the page with
    it. Such a message cannot be sent again (retry()); the signer asks for a new link."""
    with writing():
        message = db.session.get(OutboxMessage, message_id)
        if message is not None and message.status == QUEUE.dead and _token_of(message):
            message.params = _params_without_token(message)["params"]


def link_removed(message: OutboxMessage) -> bool:
    """Whether the message carried a personal link that was taken out: it can no longer be
    written as it was, so it is not sent again."""
    params = json.loads(message.params) if message.params else {}
    return isinstance(params, dict) and params.get(TOKEN) == REMOVED


def retry(message_ids: list[int]) -> int:
    """Put dead messages back in the queue (an organizer's retry button); not one whose
    signer's link was taken out (link_removed): it would go without a link that works."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == "dead",
               or_(OutboxMessage.params.is_(None),
                   OutboxMessage.params.not_like(f"%{json.dumps(REMOVED)}%")))
        .values(status="queued", attempts=0, due=utcnow())
    )
    count = changed(result)
    if count:  # of no one letter; the addresses, a signer's among them, are not kept
        audit.record(None, "outbox.retry", f"{count} message(s)", after={"queued again": count})
    return count


def _write_locally(message: OutboxMessage, written: emails.Written) -> None:
    """No mail server configured: show the message on the console and keep a copy."""
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    mail = _as_mail(message, written)
    (folder / f"{message.id:06d}-{message.kind}.eml").write_bytes(mail.as_bytes())
    print(f"\n----- email {message.id} to {message.recipient}: {written.subject}\n"
          f"{written.text}\n----- (saved in {folder})", flush=True)


def waiting_count() -> int:
    """Messages not yet delivered (queued or being sent)."""
    return int(db.session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.status.in_(("queued", "sending")))
    ) or 0)


def dead_messages(limit: int = 200) -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "dead")
        .order_by(OutboxMessage.id.desc()).limit(limit)
    ))
