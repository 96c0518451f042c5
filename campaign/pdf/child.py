"""The render in a child process: writer.py in a fresh interpreter, given its documents as JSON
and killed with everything it forked at the time limit, so that WeasyPrint's memory goes back to
the system when it ends and a runaway render cannot hold a worker. A process that renders again
and again (the worker) can keep the next child started ahead (keep_warm), so that a render does
not wait for WeasyPrint to load; a render starts its child before it makes its documents
(start_ahead)."""
from __future__ import annotations

import atexit
import base64
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _

from ..errors import PdfUnavailable
from ..paths import STATIC

log = logging.getLogger(__name__)
WRITER = Path(__file__).with_name("writer.py")


@dataclass(frozen=True)
class Document:
    """One document of a render: its HTML and, for a part of a list planned ahead (sheets.py),
    the plan it must come out as: how many pages, and on which page each column ends (the ids
    of the elements that end them)."""

    html: str
    pages: int | None = None
    ends: dict[str, int] = field(default_factory=dict)


def render_documents(documents: Sequence[Document], images: Mapping[str, bytes], timeout: float,
                     workers: int = 1, limit: float | None = None) -> list[bytes | None]:
    """The PDF of each document, rendered in one child process (in up to `workers` forks of its
    own at once, in the order given), or None for a part that did not come out as planned.
    `images` are the uploaded images the documents may show, by name (uploads/<name>);
    `timeout`: the seconds left for it; `limit`: the whole render's, which a failure names."""
    limit = timeout if limit is None else limit
    if timeout <= 0:
        raise PdfUnavailable(too_long(limit))
    request = {"documents": [{"html": d.html, "pages": d.pages, "ends": d.ends}
                             for d in documents],
               "images": {name: base64.b64encode(data).decode() for name, data in images.items()},
               "workers": workers, "timeout": timeout}
    child = _take()
    try:
        out, err = child.communicate(json.dumps(request).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        log.error("PDF rendering stopped at its time limit (%g s)", limit)
        raise PdfUnavailable(too_long(limit)) from None
    except BaseException:
        _kill_group(child)
        raise
    finally:
        if _warm:
            _start_spare()
    for line in err.decode("utf-8", "replace").splitlines():
        log.warning("pdf renderer: %s", line[:300])
    header, __, body = out.partition(b"\n")
    try:
        sizes = json.loads(header)["sizes"] if child.returncode == 0 else None
    except ValueError:
        sizes = None
    if sizes is None or len(sizes) != len(documents) or sum(max(s, 0) for s in sizes) != len(body):
        raise PdfUnavailable(_("the PDF could not be made (see the log)"))
    pdfs: list[bytes | None] = []
    at = 0
    for size in sizes:
        pdfs.append(None if size < 0 else body[at:at + size])
        at += max(size, 0)
    return pdfs


# ------------------------------------------------------------------ the child, started ahead

_warm = False
_spare: subprocess.Popen[bytes] | None = None
_lock = threading.Lock()


def too_long(limit: float) -> str:
    """What a render stopped at its time limit says."""
    seconds = format(limit, "g")
    return _("the PDF took longer than %(seconds)s seconds to make", seconds=seconds)


def keep_warm(on: bool = True) -> None:
    """From now on, keep the next render's child started (WeasyPrint and its fonts loaded, its
    request not yet read), for a process that renders again and again (the worker); or, with
    `on` false, no longer. The child ends with this process (its standard input closes)."""
    global _warm
    _warm = on
    if on:
        _start_spare()
    else:
        _end_spare()


def start_ahead() -> None:
    """Start the next render's child now, if none is waiting, so that it loads WeasyPrint while
    the caller makes its documents."""
    _start_spare()


def _start() -> subprocess.Popen[bytes]:
    """writer.py in a fresh interpreter, in a process group of its own (so that its forks go
    with it when it is killed)."""
    return subprocess.Popen([sys.executable, "-P", str(WRITER), str(STATIC)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _take() -> subprocess.Popen[bytes]:
    """The child started ahead if there is one still waiting, else a new one."""
    global _spare
    with _lock:
        spare, _spare = _spare, None
    if spare is not None and spare.poll() is None:
        return spare
    if spare is not None:
        _kill_group(spare)
    return _start()


def _start_spare() -> None:
    global _spare
    with _lock:
        if _spare is None or _spare.poll() is not None:
            _spare = _start()


@atexit.register
def _end_spare() -> None:
    global _spare
    with _lock:
        spare, _spare = _spare, None
    if spare is not None:
        _kill_group(spare)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(child.pid, 9)
    with suppress(OSError, ValueError):
        child.communicate()
    for pipe in (child.stdin, child.stdout, child.stderr):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()

