"""The render in a child process: writer.py in a fresh interpreter, given its HTML as JSON and
killed with everything it forked at the time limit, so that WeasyPrint's memory goes back to the
system when it ends and a runaway render cannot hold a worker."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..errors import PartsDidNotFit, PdfUnavailable
from ..paths import STATIC
from ..uploads import upload_folder
from .html import Job, workers

log = logging.getLogger(__name__)
WRITER = Path(__file__).with_name("writer.py")


def asset_roots() -> dict[str, Path]:
    """The folders the PDF may load from: the bundled static files and the uploaded images."""
    return {"static": STATIC, "uploads": upload_folder()}


def render_job(plan: Job, timeout: float) -> bytes:
    """The PDF of a job: in one child process, which for a long list renders its parts in forks
    of its own; if a part does not come out with the pages planned, the whole again in one pass
    within what is left of the time limit."""
    if len(plan.parts) == 1:
        return render_in_child({"html": plan.parts[0]}, timeout)
    started = time.monotonic()
    try:
        return render_in_child({"parts": plan.parts, "pages": plan.pages, "title": plan.title,
                                "workers": workers()}, timeout)
    except PartsDidNotFit:
        assert plan.whole is not None
        log.warning("a PDF's parts did not come out as planned: rendering it in one pass")
        return render_in_child({"html": plan.whole()}, timeout - (time.monotonic() - started))


def render_in_child(request: dict[str, Any], timeout: float) -> bytes:
    """Run writer.py in a fresh interpreter (its own process group, so that its forks go with
    it): the request in, the PDF out, killed after `timeout` seconds."""
    if timeout <= 0:
        raise PdfUnavailable("the PDF took too long to make")
    request = {**request, "timeout": timeout,
               "roots": {k: str(v) for k, v in asset_roots().items()}}
    child = subprocess.Popen([sys.executable, "-P", str(WRITER)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        out, err = child.communicate(json.dumps(request).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        log.error("PDF rendering stopped after %s s", timeout)
        raise PdfUnavailable(f"the PDF took longer than {timeout:g} seconds to make") from None
    except BaseException:
        _kill_group(child)
        raise
    for line in err.decode("utf-8", "replace").splitlines():
        log.warning("pdf renderer: %s", line[:300])
    if child.returncode == 3 and "parts" in request:
        raise PartsDidNotFit("a part did not come out as planned")
    if child.returncode != 0 or not out.startswith(b"%PDF"):
        raise PdfUnavailable("the PDF could not be made (see the log)")
    return out


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(child.pid, 9)
    child.communicate()
