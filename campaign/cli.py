"""The `campaign` commands: each a thin call into the domain; one-line errors, never a traceback."""
from __future__ import annotations

import functools
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import click
import flask_migrate
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.serving import run_simple

from . import (
    accounts,
    audit,
    letter_files,
    letters,
    roles,
    spreadsheets,
    translations,
    worker,
)
from .database import writing
from .errors import AccountError, CampaignError, LetterError
from .extensions import db
from .i18n import _l
from .models import Letter, Signature
from .paths import LETTERS
from .text import clean_text

F = TypeVar("F", bound=Callable[..., Any])
DEMO_EMAIL = "demo@example.org"
NAME_LIMIT = 200  # an organizer's name (its column)
# What utf8_argument says of an argument that is not UTF-8, by what the argument is.
NOT_UTF8 = {"name": _l("the name is not UTF-8 text"),
            "email address": _l("the email address is not UTF-8 text"),
            "slug": _l("the slug is not UTF-8 text"), "role": _l("the role is not UTF-8 text")}


def init_app(app: Flask) -> None:
    from . import cli_letters as on_letters  # its commands use this module's helpers
    from . import cli_signatories as signatories
    from .cli_translations import translations

    for command in (init_db, create_organizer, set_password, grant_role, revoke_role,
                    on_letters.import_letter, signatories.import_signatures,
                    signatories.export_pdf, signatories.export_csv, on_letters.export_letter,
                    on_letters.purge_contacts, on_letters.check_counts, run_worker, demo,
                    translations):
        app.cli.add_command(command)


def one_line_errors(fn: F) -> F:
    """Turn the errors a user can cause into `Error: <one line>` and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CampaignError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:
            db.session.rollback()
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise click.ClickException(
                _("database error: %(reason)s (has `campaign init-db` been run?)",
                  reason=reason)) from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"{exc.strerror or exc}:{where}") from None

    return wrapper  # type: ignore[return-value]


def letter_by_slug(slug: str) -> Letter:
    letter = letters.get_letter(slug)
    if letter is None:
        raise LetterError(_("no letter with the slug %(slug)s", slug=repr(slug)))
    return letter


# ------------------------------------------------------------------ schema and accounts


@click.command("init-db")
@one_line_errors
def init_db() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    upgrade_schema()
    click.echo(_("Database ready: %(database)s",
                 database=db.engine.url.render_as_string(hide_password=True)))


def upgrade_schema() -> None:
    Path(current_app.instance_path).mkdir(parents=True, exist_ok=True)
    flask_migrate.upgrade(directory=str(current_app.extensions["migrate"].directory))


@click.command("create-organizer")
@click.argument("email")
@click.option("--name", default="", help="The organizer's name.")
@click.option("--no-admin", "not_admin", is_flag=True,
              help="Not a site administrator: it reaches only the letters it has a role on.")
@one_line_errors
def create_organizer(email: str, name: str, not_admin: bool) -> None:
    """Create a staff account: a site administrator, who can do everything, unless --no-admin.
    The password comes from standard input, or is prompted for."""
    shown = clean_text(utf8_argument(name, "name"), NAME_LIMIT + 1)
    if len(shown) > NAME_LIMIT:
        raise AccountError(_("the name can have at most %(limit)s characters", limit=NAME_LIMIT))
    utf8_argument(email, "email address")
    password_hash = accounts.hash_password(read_password())  # slow: before the writing unit
    with writing():
        address = accounts.create_organizer(email, password_hash, shown,
                                            admin=not not_admin).email
        audit.record(None, "account.create", address, after={"administrator": not not_admin})
    click.echo(_("Created organizer %(email)s", email=address) if not_admin else
               _("Created organizer %(email)s (a site administrator: every letter)",
                 email=address))


@click.command("set-password")
@click.argument("email")
@one_line_errors
def set_password(email: str) -> None:
    """Give a staff account a new password, which ends all its sessions. The password comes from
    standard input, or is prompted for."""
    utf8_argument(email, "email address")
    password_hash = accounts.hash_password(read_password())  # slow: before the writing unit
    with writing():
        organizer = accounts.find(email)
        if organizer is None:
            raise AccountError(_("no organizer has the email %(email)s",
                                 email=repr(email.strip())))
        accounts.set_password_hash(organizer, password_hash)
        address = organizer.email
        audit.record(None, "account.password", address)
    click.echo(_("New password set for %(email)s; its sessions have ended", email=address))


@click.command("grant")
@click.argument("email")
@click.argument("slug")
@click.argument("role")
@one_line_errors
def grant_role(email: str, slug: str, role: str) -> None:
    """Give an organizer a role on one letter (replacing any it had there): owner, editor,
    moderator, viewer or partner:<code>."""
    for value, what in ((email, "email address"), (slug, "slug"), (role, "role")):
        utf8_argument(value, what)
    with writing():
        letter = letter_by_slug(slug)
        organizer = roles.find_organizer(email)
        wanted = roles.parse_role(letter, role)
        roles.grant(letter, organizer, wanted)
        done = _("%(email)s is now %(role)s on %(slug)s", email=organizer.email,
                 role=wanted.text, slug=letter.slug)
    click.echo(done)


@click.command("revoke")
@click.argument("email")
@click.argument("slug")
@one_line_errors
def revoke_role(email: str, slug: str) -> None:
    """Take away an organizer's role on one letter."""
    for value, what in ((email, "email address"), (slug, "slug")):
        utf8_argument(value, what)
    with writing():
        letter = letter_by_slug(slug)
        organizer = roles.find_organizer(email)
        if not roles.revoke(letter, organizer):
            raise AccountError(_("%(email)s has no role on %(slug)s", email=organizer.email,
                                 slug=letter.slug))
        done = _("%(email)s no longer organizes %(slug)s", email=organizer.email,
                 slug=letter.slug)
    click.echo(done)


def utf8_argument(value: str, what: str) -> str:
    """An argument as given, when it is text: bytes that are not UTF-8 reach Python as lone
    surrogates, which no database or hash takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AccountError(str(NOT_UTF8[what]) if what in NOT_UTF8
                           else _("the %(what)s is not UTF-8 text", what=what)) from None
    return value


def read_password() -> str:
    """Prompted for twice at a terminal, else the first line of standard input."""
    try:
        if sys.stdin.isatty():
            password = str(click.prompt(_("Password"), hide_input=True,
                                        confirmation_prompt=True))
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        password.encode("utf-8")  # bytes that are not UTF-8 come in as lone surrogates
    except UnicodeError:
        raise AccountError(_("the password is not UTF-8 text")) from None
    return password


# ------------------------------------------------------------------ mail


def _seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A pause in seconds, from 0.01 to an hour (click's FloatRange lets NaN through)."""
    if not 0.01 <= value <= 3600:  # False for NaN too
        raise click.BadParameter(_("must be a number of seconds from 0.01 to 3600"))
    return value


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now (email, renders), then exit.")
@click.option("--interval", default=0.25, show_default=True, type=float, callback=_seconds,
              help="Seconds between looks at the queues (a look is one read).")
@click.option("--with-parent", is_flag=True, hidden=True, help="Stop when the parent process ends.")
@one_line_errors
def run_worker(once: bool, interval: float, with_parent: bool) -> None:
    """Do the queued work: deliver email (retrying with backoff) and render PDFs."""
    if not once:
        click.echo(_("Delivering queued email and rendering PDFs; stop with Ctrl+C."))
    with suppress(KeyboardInterrupt):
        worker.run(once=once, interval=interval, parent=os.getppid() if with_parent else None)


@contextmanager
def worker_alongside(env: dict[str, str] | None = None) -> Iterator[None]:
    """Run `campaign worker` in a child process for as long as the block runs."""
    if os.environ.get("WERKZEUG_RUN_MAIN") == "true":  # the reloader's child: its parent has one
        yield
        return
    child = subprocess.Popen([sys.executable, "-m", "campaign", "worker", "--with-parent"],
                             env={**os.environ, **(env or {})})
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)  # so that the worker child is stopped on the way out


# ------------------------------------------------------------------ demo


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@one_line_errors
def demo(host: str, port: int) -> None:
    """Schema, example letters, a demo organizer and sample signatories; then serve."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade_schema()
    password = secrets.token_urlsafe(9)
    password_hash = accounts.hash_password(password)
    examples = [(path, letter_files.parse_file(path, app.config["TZ"]))
                for path in letter_files.letter_files(LETTERS)]
    with writing():
        slugs = load_example_letters(examples)
        demo_organizer(password_hash)
    base = f"http://{host}:{port}"
    env = {}
    if not os.environ.get("CAMPAIGN_BASE_URL"):
        app.config["BASE_URL"] = base
        env["CAMPAIGN_BASE_URL"] = base
    data = (_("data in %(folder)s; mail is sent through %(server)s", folder=app.instance_path,
              server=app.config["MAIL_SERVER"]) if app.config["MAIL_SERVER"] else
            _("data in %(folder)s; mail is shown here and saved under %(mail)s",
              folder=app.instance_path, mail=Path(app.instance_path) / "mail"))
    home, login = base + "/", base + "/login"
    urls = ", ".join(base + "/letters/" + slug for slug in slugs)
    click.echo("\n".join([
        "", _("Campaign is running at %(url)s", url=home),
        "  " + _("letters: %(urls)s", urls=urls),
        "  " + _("organizer login: %(url)s  email %(email)s  password %(password)s",
                 url=login, email=DEMO_EMAIL, password=password),
        "  " + data, ""]))
    with worker_alongside(env):
        run_simple(host, port, app, threaded=True)


def load_example_letters(examples: list[tuple[Path, letters.LetterText]]) -> list[str]:
    """Save the example letters read from letters/ and give them their sample signatories (the
    .csv file beside each), once (in the caller's writing unit)."""
    slugs = []
    for path, text in examples:
        existing = letters.get_letter(text.slug)
        if existing is not None and text.language != existing.language:  # a translation of it
            translations.save(existing, text.language, text.title, text.recipient, text.body,
                              translations.CORRECTION)
            continue
        letter = letters.create_or_update(text)
        slugs.append(letter.slug)
        sample = path.with_suffix(".csv")
        has_signatures = db.session.scalar(
            select(func.count()).select_from(Signature).where(Signature.letter_id == letter.id))
        if sample.exists() and not has_signatures:
            spreadsheets.import_csv(letter, sample.read_text(encoding="utf-8"), approved=True)
    return slugs


def demo_organizer(password_hash: str) -> None:
    """Create the demo organizer, or give it a fresh password (in the caller's writing unit)."""
    existing = accounts.find(DEMO_EMAIL)
    if existing is None:
        accounts.create_organizer(DEMO_EMAIL, password_hash, "Demo Organizer")
    else:
        accounts.set_password_hash(existing, password_hash)
