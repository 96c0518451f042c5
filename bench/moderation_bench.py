"""The moderation queue under load (issue #15): an organizer's pages at a letter's size.

At `count` signatures (half waiting for a decision, half listed) an organizer, logged in, loads
the first page of the waiting queue, a search, a filter sorted by name, and a page deep in the
queue; /healthz is the baseline and the public letter page a reference, each loaded by wrk in
slices taken in turn, so that every figure is a ratio within the run.
"""
from __future__ import annotations

import http.client
import re
import subprocess
import urllib.parse
from pathlib import Path

from harness import BIN, Server, request, seed_signatories
from loadgen import SCRIPT, Load, Wrk, lua_string

PASSWORD = "bench-password-1234"
EMAIL = "bench-organizer@example.org"


def organizer_cookie(server: Server) -> str:
    """A logged-in organizer's Cookie header: the account is made through the CLI, then the
    login form is filled as a browser would (its session cookie and CSRF token)."""
    subprocess.run([str(BIN / "campaign"), "create-organizer", EMAIL, "--name", "Bench"],
                   input=PASSWORD + "\n", env=server.env, cwd=server.folder, text=True,
                   capture_output=True, check=True)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        page = response.read()
        cookies = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or []]
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, "no CSRF token on the login page"
        body = urllib.parse.urlencode({"csrf_token": token.group(1).decode(), "email": EMAIL,
                                       "password": PASSWORD})
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(cookies)})
        response = conn.getresponse()
        response.read()
        assert response.status in (302, 303), f"login answered {response.status}"
        cookies = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or []]
    finally:
        conn.close()
    return "; ".join(cookies)


def cookie_script(cookie: str) -> str:
    """load.lua with every request carrying the organizer's session cookie, and the answers
    counted by status (a redirect to the login page would otherwise pass for a fast answer)."""
    return "\n".join([
        f"wrk.headers[\"Cookie\"] = {lua_string(cookie)}",
        "function init(args) statuses = {} end",
        "function response(status, headers, body)",
        "  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1",
        "end", "",
    ]) + SCRIPT.read_text()


def bench_moderation(database: str, url: str, folder: Path, quick: bool) -> list[tuple[str, ...]]:
    from run import figures

    count = 5_000 if quick else 50_000
    rounds, seconds = (2, 3) if quick else (3, 5)
    server = Server(url, folder)
    server.cli("init-db")
    slug = server.add_letter("bench-moderation")
    seed_signatories(server, slug, count)
    server.sql("UPDATE signature SET status = 'pending' WHERE id - (id / 2) * 2 = 0")
    server.start()
    wrk = Wrk(server.port)
    rows: list[tuple[str, ...]] = []
    try:
        session_cookie = organizer_cookie(server)
        cookie = cookie_script(session_cookie)
        base = f"/admin/letters/{slug}/signatures"
        deep = count // 2 // 50 // 2
        pages = {
            "healthz": ("/healthz", "/healthz (baseline)", None),
            "letter": (f"/letters/{slug}", "public letter page (reference)", None),
            "queue": (base, "moderation: first page of the waiting queue", cookie),
            "search": (f"{base}?q=Solidarity", "moderation: a search (\"Solidarity\")", cookie),
            "filter": (f"{base}?level=local&sort=name", "moderation: local groups sorted by name",
                       cookie),
            "deep": (f"{base}?page={deep}", f"moderation: page {deep} of the waiting queue",
                     cookie),
        }
        headers = {"Cookie": session_cookie}
        for path, _, script in pages.values():  # each answers in full before it is measured
            status, body, _ = request(server.port, "GET", path,
                                      headers=headers if script else None)
            assert status == 200 and body, (path, status)
            if script:
                assert b"<table" in body, f"{path}: no queue table (not logged in?)"
        loads = {name: Load() for name in pages}
        for turn in range(rounds):
            print(f"{database}: moderation round {turn + 1} of {rounds}", flush=True)
            for name, (path, _, script) in pages.items():
                loads[name].add(wrk.run(path, seconds, script))
        baseline = loads["healthz"]
        for name, (_, label, _) in pages.items():
            load = loads[name]
            if pages[name][2]:  # every answer a 200: still logged in, the page in full
                assert set(load.statuses) == {200}, (name, dict(load.statuses))
            note = "baseline" if name == "healthz" else \
                f"p90 = {load.pct(90) / baseline.pct(90):.2f}x /healthz's p90"
            rows.append((database, f"{label}, {count:,} signatures", *figures(load),
                         str(load.over_399 + load.socket_errors), note))
    finally:
        wrk.close()
        server.stop()
    return rows
