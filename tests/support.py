"""What test modules share besides fixtures: a throwaway PostgreSQL cluster, the real SMTP
server's mailbox, driving forms, the sign form's values, one-line command errors, and a password
hashed once for the whole run. Fixtures live in conftest.py; test modules import these by name."""
from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-not-for-production"
PASSWORD = "correct horse battery 9"

# What a signer fills in on the sign form (the fields a test changes, it overrides).
SIGNER = {
    "organization": "Sunrise Tenants Union", "contact_name": "Rosa Diaz",
    "email": "rosa@sunrise.example.org", "city": "Tucson", "region": "AZ",
    "country": "United States", "scope": "local", "consent": "y", "authorized": "y",
    "leave_empty": "",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """An Argon2id hash of `password`, made once per run (each takes a tenth of a second)."""
    from campaign.accounts import hasher

    return hasher.hash(password)


# ------------------------------------------------------------------ a throwaway PostgreSQL


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """initdb + pg_ctl in a temp folder, on loopback; as the postgres user when run as root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="campaign-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                  "start")
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bindir / tool), *args], check=True,
                       capture_output=True, cwd="/")

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True, cwd="/")
        shutil.rmtree(self.dir, ignore_errors=True)


BACKENDS = ["sqlite"]
if pg_bin() is not None:
    BACKENDS.append("postgresql")
elif os.environ.get("CAMPAIGN_TEST_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("PostgreSQL's server binaries (initdb) are not installed")


# ------------------------------------------------------------------ mail


@dataclass
class Mailbox:
    """Messages received by the test SMTP server."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    port: int = 0
    refuse: bool = False

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m, (_, rcpts) in zip(self.messages, self.envelopes, strict=True)
                if address.lower() in [r.lower() for r in rcpts]]

    def wait(self, count: int, timeout: float = 10) -> None:
        end = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < end:
            time.sleep(0.05)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def with_smtp(config: dict[str, Any], smtp: Mailbox, **more: Any) -> dict[str, Any]:
    """App settings that send mail to the test SMTP server."""
    return {**config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port, **more}


# ------------------------------------------------------------------ the worker's render jobs


def do_render_jobs(now: Any = None) -> int:
    """Do the render jobs due at `now` (default: now) one after another, as `campaign worker`
    does, in the test's app context; returns how many were claimed (a failed try counts)."""
    from campaign import worker

    claimed = 0
    while worker.run_due(now):
        claimed += 1
    return claimed


# ------------------------------------------------------------------ forms


def form_fields(html: str, button: str | None = None) -> tuple[str | None, dict[str, str]]:
    """The action and hidden/default values of the form holding `button` (or the first form)."""
    soup = BeautifulSoup(html, "html.parser")
    for form in soup.find_all("form"):
        texts = [b.get_text(" ") or b.get("value", "") for b in form.find_all(["button", "input"])
                 if b.name == "button" or b.get("type") == "submit"]
        if button is None or any(button.lower() in t.lower() for t in texts):
            return form.get("action"), form_values(form)
    raise AssertionError(f"no form with a {button!r} button")


def form_by_action(html: str, action: str) -> dict[str, str]:
    """The values of the form posting to `action` (its path), found by its address rather than
    its button, whose label may be in another language."""
    for form in BeautifulSoup(html, "html.parser").find_all("form", method="post"):
        if (form.get("action") or "").split("?")[0] == action:
            return form_values(form)
    raise AssertionError(f"no form posting to {action}")


def form_values(form: Any) -> dict[str, str]:
    """The values of a form as it stands: hidden fields, typed text, the chosen options, a radio
    group's last value (checkboxes, files and buttons are left to the caller)."""
    values = {}
    for inp in form.find_all(["input", "select", "textarea"]):
        name = inp.get("name")
        if not name or inp.get("type") in ("submit", "checkbox", "file"):
            continue
        if inp.name == "select":
            chosen = inp.find("option", selected=True) or inp.find("option")
            values[name] = chosen.get("value", "") if chosen else ""
        elif inp.name == "textarea":
            values[name] = inp.get_text()
        else:
            values[name] = inp.get("value", "")
    return values


def submit(client: Any, url: str, data: dict[str, Any], button: str | None = None,
           **kw: Any) -> Any:
    """GET the page, then POST its form (with its CSRF token) overlaid with `data`."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    action, values = form_fields(page.get_data(as_text=True), button)
    values.update({k: v for k, v in data.items() if v is not None})
    return client.post(action or url, data=values, **kw)


# ------------------------------------------------------------------ the command line


def assert_one_line_error(result: Any, fragment: str) -> None:
    """A command that failed as a person should see it: non-zero, no traceback, one `Error:`
    line naming the problem. `result` is a CliRunner result or a finished subprocess."""
    if isinstance(result, subprocess.CompletedProcess):
        assert result.returncode != 0
    else:
        assert result.exit_code != 0
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0], lines[0]
