"""Real servers for the fault and concurrency tests: gunicorn serving wsgi:app, an SMTP server that
can start late on a chosen port, one that accepts and then hangs, and browsers that use them."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller
from support import ROOT, SECRET, free_port

VENV_BIN = Path(ROOT) / ".venv" / "bin"


def campaign_env(**settings: Any) -> dict[str, str]:
    """This process's environment without any CAMPAIGN_* setting, plus `settings` as CAMPAIGN_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update({f"CAMPAIGN_{k}": str(v) for k, v in settings.items()})
    return env


# ------------------------------------------------------------------ gunicorn


@dataclass
class Gunicorn:
    base: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(folder: Path, workers: int = 2, **settings: Any) -> Iterator[Gunicorn]:
    """`gunicorn -w N wsgi:app` on a free loopback port, with `settings` as CAMPAIGN_* variables."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = campaign_env(SECRET_KEY=SECRET, BASE_URL=base, INSTANCE_PATH=folder / "instance",
                       **settings)
    log = folder / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--chdir", str(ROOT), "--graceful-timeout", "5", "wsgi:app"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Gunicorn(base, log, process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: Gunicorn, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.log_text()[-3000:]}")
        try:
            requests.get(server.base + "/healthz", timeout=10)
            return
        except requests.RequestException:  # not listening yet, or its workers still starting
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer:\n{server.log_text()[-3000:]}")


# ------------------------------------------------------------------ a browser on the real server


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A requests session that fetches a form's page for its CSRF cookie and token, then posts."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def token(self, path: str) -> str:
        page = self.session.get(self.base + path, timeout=30)
        page.raise_for_status()
        match = CSRF_RE.search(page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict[str, str], token: str) -> requests.Response:
        return self.session.post(self.base + path, data={"csrf_token": token, **data},
                                 allow_redirects=False, timeout=30)

    def submit(self, path: str, data: dict[str, str]) -> requests.Response:
        return self.post(path, data, self.token(path))


# ------------------------------------------------------------------ SMTP servers


@dataclass
class SMTPRecorder:
    """A real SMTP server (aiosmtpd) on a chosen port; it may be started after the app."""

    port: int = field(default_factory=free_port)
    delay: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SMTPRecorder:
        recorder = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if recorder.delay:
                    await asyncio.sleep(recorder.delay)
                with recorder._lock:
                    recorder.messages.append(
                        message_from_bytes(envelope.content, policy=policy.default))
                    recorder.recipients.extend(r.lower() for r in envelope.rcpt_tos)
                return "250 OK"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def duplicates(self) -> int:
        """Deliveries beyond the first to any one recipient."""
        return sum(n - 1 for n in Counter(self.recipients).values())

    def sender_pids(self) -> set[str]:
        """The processes that sent (Python's Message-IDs carry the sender's pid)."""
        return {str(m["Message-ID"]).split(".")[1] for m in self.messages}


class HangingSMTP:
    """Accepts connections and then says nothing (or only its greeting), like a hung server."""

    def __init__(self, greet: bool = False) -> None:
        self.greet = greet
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.greet:
                conn.sendall(b"220 mail.example.org ESMTP\r\n")
            self._held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()
