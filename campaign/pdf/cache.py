"""PDFs kept on disk under a fingerprint of what they show, made once even when many ask.

They live in `<instance>/pdf-cache/`; a file lock per letter makes concurrent requests for a
stale PDF, from any worker process on the host, render it once, and a failed render makes the
next requests wait a minute rather than each start another."""
from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app

from ..errors import PdfUnavailable
from ..listing import Listed
from ..models import Letter
from ..paths import STATIC, TEMPLATES, write_atomically
from .child import render_job
from .html import Job

log = logging.getLogger(__name__)
FAILURE_PAUSE = 60  # seconds after a failed render before the same PDF is tried again


@functools.cache
def _template_revision() -> str:
    """Changes whenever a PDF template or the print stylesheet does, so old PDFs are not served."""
    digest = hashlib.sha256()
    for path in sorted((TEMPLATES / "pdf").glob("*.html")) + [STATIC / "pdf.css"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(kind: str, letter: Letter, entries: Iterable[Listed], date: str,
                *extra: str) -> str:
    """SHA-256 of everything a PDF shows: the letter version, its print settings, the date and
    the listed signatories (as shown), and the templates that lay them out."""
    digest = hashlib.sha256()
    parts = [_template_revision(), kind, str(letter.id), letter.content_hash(), letter.language,
             letter.coalition_name, letter.logo_file or "", letter.closing,
             str(letter.show_contact_names), date, *extra]
    digest.update("\x1f".join(parts).encode())
    for e in entries:
        contact = e.contact_name if letter.show_contact_names else ""
        digest.update(f"\x1e{e.id}\x1f{e.shown_name}\x1f{e.place}\x1f{e.scope}\x1f"
                      f"{contact}".encode())
    return digest.hexdigest()


def cache_folder() -> Path:
    folder = Path(current_app.instance_path) / "pdf-cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached(name: str, key: str, build: Callable[[], Job]) -> bytes:
    """The PDF stored under `name` and `key`, rendered from build() if there is none yet.

    A file lock per name lets one process render while the others wait, then read its file; so
    two requests for a stale PDF, in any workers on this host, render it once.
    """
    folder = cache_folder()
    path = folder / f"{name}-{key}.pdf"
    data = _read(path)
    if data is not None:
        return data
    timeout = float(current_app.config["PDF_TIMEOUT"])
    failed = path.with_suffix(".failed")
    with _locked(folder / f"{name}.lock", wait=timeout + 30):
        data = _read(path)  # another worker made it while this one waited
        if data is not None:
            return data
        if _age(failed) < FAILURE_PAUSE:  # don't let each request start another doomed render
            raise PdfUnavailable("the PDF could not be made a moment ago")
        started = time.monotonic()
        try:
            data = render_job(build(), timeout)
        except PdfUnavailable:
            failed.touch()
            raise
        write_atomically(path, data)
        for old in [*folder.glob(f"{name}-*.pdf"), *folder.glob(f"{name}-*.failed")]:
            if old != path:
                old.unlink(missing_ok=True)
        log.info("rendered %s in %.1f s (%d kB)", name, time.monotonic() - started,
                 len(data) // 1024)
    return data


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@contextmanager
def _locked(path: Path, wait: float) -> Iterator[None]:
    """An exclusive flock on `path`, waiting up to `wait` seconds (the holder may be rendering)."""
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise PdfUnavailable("another PDF of this letter is still being made") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
