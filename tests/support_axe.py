"""axe-core, the accessibility checker, for the browser tests: fetched once from the npm registry
(a pinned version, checked against the registry's sha512 integrity), kept in a cache outside the
working tree, and run in a Playwright page; its violations as readable lines."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_VERSION = "4.10.3"
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
# `npm view axe-core@4.10.3 dist.integrity`
AXE_INTEGRITY = ("sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGf"
                 "Ts/PbZhideTcEg==")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "campaign-tests"


class AxeUnavailable(RuntimeError):
    """axe-core could not be fetched or did not match its published integrity."""


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def _download() -> bytes:
    try:
        with urllib.request.urlopen(AXE_TARBALL, timeout=60) as answer:  # noqa: S310 (a fixed https URL)
            data: bytes = answer.read()
    except OSError as error:
        raise AxeUnavailable(f"could not fetch {AXE_TARBALL}: {error}") from error
    return data


def axe_source() -> str:
    """axe.min.js of the pinned version: from the cache, else from the registry (and cached).
    The tarball is checked against its integrity each time, cached or not."""
    tarball = CACHE / f"axe-core-{AXE_VERSION}.tgz"
    data = tarball.read_bytes() if tarball.exists() else _download()
    if _integrity(data) != AXE_INTEGRITY:
        tarball.unlink(missing_ok=True)
        raise AxeUnavailable(f"{AXE_TARBALL} does not match its registry integrity {AXE_INTEGRITY}")
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(tarball)  # whole or not at all, even with several test workers
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise AxeUnavailable(f"{AXE_TARBALL} holds no package/axe.min.js")
        return member.read().decode("utf-8")


RUN_AXE = """async () => {
    const results = await axe.run(document, {resultTypes: ['violations']});
    return results.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(' ')),
    }));
}"""


def violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong on the page as it is now (every rule axe runs by default: WCAG
    2.x A and AA, and its best practices). The page must have axe loaded (see `axe_source`)."""
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return found


def described(where: str, found: list[dict[str, Any]]) -> list[str]:
    """One line per violation: where, rule, impact, what it asks, and the elements (a few)."""
    lines = []
    for v in found:
        targets = ", ".join(v["targets"][:4]) + (" ..." if len(v["targets"]) > 4 else "")
        lines.append(f"{where}: {v['id']} ({v['impact']}) {v['help']} -> {targets}")
    return lines
