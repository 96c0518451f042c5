"""Hostile arguments, files and standard input for every `campaign` command: a non-zero exit with
one line on standard error and no traceback, or success with clean data; a failed command leaves
nothing half-written. Each backend gets one database for the whole module; commands run through
Flask's CLI runner, and a few through the real console script."""
from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import support_figures as figures
from click.testing import Result
from sqlalchemy import func, select
from support import BACKENDS, PASSWORD, password_hash
from support_apps import Site, module_site
from test_hostile import HOSTILE, UNUSUAL_EMAILS
from test_hostile_organizer import HOSTILE_CSVS, add_signature, letter_problems

from campaign import accounts, letters
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Letter, LetterRole, LetterVersion, Organizer, Signature

SLUG = "harbor"
CAMPAIGN = Path(sys.executable).parent / "campaign"
FORBIDDEN = {"Cc", "Cs"}


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An open letter with approved and pending signatures, and an organizer."""
    folder = tmp_path_factory.mktemp(f"hostile-cli-{request.param}")
    hashed = password_hash()
    with module_site(request, folder) as made:
        with made.context(), writing():
            letter = letters.create(letters.LetterText(
                title="Keep the Harbor Public", slug=SLUG, status="open",
                body="We ask the port authority to keep the harbor public.\n"))
            for n, status in enumerate(("approved", "approved", "pending"), start=1):
                add_signature(letter, n, status)
            accounts.create_organizer("staff@example.org", hashed, "Staff")
        yield made


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-cli-files")


def run(site: Site, *args: str, stdin: str | bytes | None = None, hostile: bool = True) -> Result:
    """A command through Flask's CLI runner, in the site's app context; counted."""
    with site.context():
        result = site.app.test_cli_runner().invoke(args=list(args), input=stdin)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    figures.command(crashed or "Traceback" in result.output + result.stderr, hostile)
    return result


def refused(result: Result, what: str) -> bool:
    """False for a success; True for a refusal as a person should see it: a non-zero exit, no
    traceback, one line `Error: ...` (click's own usage errors end with that line)."""
    if result.exit_code == 0:
        return False
    assert isinstance(result.exception, SystemExit), \
        f"{what}: {type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in result.output + result.stderr, what
    lines = result.stderr.strip().splitlines()
    if result.exit_code == 2 and lines and lines[0].startswith("Usage:"):
        lines = lines[-1:]  # click: usage, a hint, a blank line, then the error
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"{what}: {result.stderr!r}"
    return True


def counts(site: Site) -> dict[str, int]:
    with site.context():
        return {model.__tablename__: int(db.session.scalar(
            select(func.count()).select_from(model)) or 0)
            for model in (Letter, LetterVersion, Signature, Organizer)}


def letter_rows(site: Site) -> dict[str, tuple[Any, ...]]:
    with site.context():
        return {row.slug: tuple(row) for row in db.session.execute(select(Letter.__table__))}


def clean(value: str) -> bool:
    return not {unicodedata.category(c) for c in value if c not in "\n\t"} & FORBIDDEN


def test_every_campaign_command_is_covered_here(site):
    with site.context():
        names = set(site.app.cli.list_commands(None))  # type: ignore[arg-type]
    assert names == COVERED | NOT_OURS, "a new command needs its hostile-input test"


COVERED = {"init-db", "create-organizer", "set-password", "import-letter", "import-signatures",
           "worker", "export-pdf", "export-csv", "check-counts", "demo", "export-letter",
           "purge-contacts", "grant", "revoke", "translations"}
NOT_OURS = {"db"}  # Flask-Migrate's group (`init-db` is how this project runs it)


# ------------------------------------------------------------------ import-letter


def letter_file(front: str, body: str = "We ask you to act.\n") -> bytes:
    return f"---\n{front}\n---\n{body}".encode("utf-8", "surrogatepass")


BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]"
    for i in range(8)])
LETTER_FILES: dict[str, bytes] = {
    "empty": b"",
    "binary": bytes((i * 53 + 7) % 256 for i in range(2048)),
    "nul-bytes": b"---\ntitle: A\x00B\nslug: nul-bytes\n---\nText\x00.\n",
    "latin-1": letter_file("title: Café\nslug: latin").decode().encode("latin-1"),
    "utf-16": letter_file("title: Letter\nslug: utf-sixteen").decode().encode("utf-16"),
    "utf-8-bom": b"\xef\xbb\xbf" + letter_file("title: With a BOM\nslug: with-bom"),
    "no-front-matter": b"Just a letter.\n",
    "unclosed-front-matter": b"---\ntitle: A\nslug: open-ended\nWe ask.\n",
    "bad-yaml": letter_file("title: [unclosed\nslug: bad-yaml"),
    "tabs-yaml": letter_file("title:\tA\n\tslug: tabs"),
    "yaml-bomb": letter_file(BOMB + "\ntitle: *i\nslug: bomb"),
    "recursive-alias": letter_file("title: &t [*t]\nslug: recursive"),
    "python-tag": letter_file("title: !!python/object/apply:os.system ['true']\nslug: tag"),
    "binary-tag": letter_file("title: !!binary aGVsbG8=\nslug: binary-tag"),
    "set-tag": letter_file("title: !!set {a, b}\nslug: set-tag"),
    "merge-key": letter_file("base: &b {title: Merged}\n<<: *b\nslug: merged"),
    "title-list": letter_file("title: [a, b]\nslug: title-list"),
    "slug-mapping": letter_file("title: A\nslug: {a: b}"),
    "title-number": letter_file("title: 12345\nslug: title-number"),
    "title-null": letter_file("title: null\nslug: title-null"),
    "title-bool": letter_file("title: yes\nslug: title-bool"),
    "title-nul-escape": letter_file('title: "\\0\\0"\nslug: nul-escape'),
    "title-invisible": letter_file('title: "\\u200b\\u2060"\nslug: invisible'),
    "title-controls": letter_file('title: "Harbor\\x01\\x1b[31m\\x7f Co-op"\nslug: controls'),
    "title-surrogate": letter_file('title: "\\ud800"\nslug: surrogate'),
    "title-overlong": letter_file(f"title: {'A' * 301}\nslug: overlong-title"),
    "title-script": letter_file(f"title: \"{HOSTILE['script']}\"\nslug: script-title"),
    "slug-unicode": letter_file("title: A\nslug: café"),
    "slug-upper": letter_file("title: A\nslug: UPPER"),
    "slug-overlong": letter_file(f"title: A\nslug: {'a' * 81}"),
    "slug-traversal": letter_file("title: A\nslug: ../../etc"),
    "slug-number": letter_file("title: A\nslug: 2026"),
    "unknown-key": letter_file("title: A\nslug: unknown-key\nauthor: x"),
    "number-key": letter_file("title: A\nslug: number-key\n1: x"),
    "null-key": letter_file("title: A\nslug: null-key\n~: x"),
    "unhashable-key": letter_file("title: A\nslug: unhashable\n? [a, b]\n: x"),
    "duplicate-key": letter_file("title: A\nslug: duplicate-key\nslug: duplicate-key-2"),
    "deadline-impossible": letter_file("title: A\nslug: dl-impossible\ndeadline: 2026-02-30"),
    "deadline-far": letter_file("title: A\nslug: dl-far\ndeadline: 9999-12-31"),
    "deadline-ancient": letter_file("title: A\nslug: dl-ancient\ndeadline: 0001-01-01"),
    "deadline-edge-zone": letter_file("title: A\nslug: dl-zone\ndeadline: 9999-12-31T23:59-14:00"),
    "deadline-bad-zone": letter_file("title: A\nslug: dl-zone2\ndeadline: 2030-01-01T00:00+99:00"),
    "deadline-number": letter_file("title: A\nslug: dl-number\ndeadline: 20300630"),
    "deadline-infinite": letter_file("title: A\nslug: dl-inf\ndeadline: .inf"),
    "deadline-huge-int": letter_file(f"title: A\nslug: dl-huge\ndeadline: {'9' * 5000}"),
    "deadline-list": letter_file("title: A\nslug: dl-list\ndeadline: [2030-01-01]"),
    "status-unknown": letter_file("title: A\nslug: st-unknown\nstatus: published"),
    "status-list": letter_file("title: A\nslug: st-list\nstatus: [open]"),
    "language-bad": letter_file("title: A\nslug: lang-bad\nlanguage: 'en; DROP'"),
    "language-unicode": letter_file("title: A\nslug: lang-uni\nlanguage: español"),
    "recipient-controls": letter_file('title: A\nslug: rc\nrecipient: "The\\x00 Mayor\\x1b"'),
    "no-body": letter_file("title: A\nslug: no-body", ""),
    "body-only-nul": letter_file("title: A\nslug: body-nul", "\x00\x00\n"),
    "body-invisible": letter_file("title: A\nslug: body-invisible", "\u200b\u2060\n"),
    "body-script": letter_file("title: A\nslug: body-script",
                               f"{HOSTILE['script']}\n\n{HOSTILE['attribute']}\n"),
    "body-huge": letter_file("title: A\nslug: body-huge", "We ask. " * 250_000),
    "body-controls": letter_file("title: A\nslug: body-controls", HOSTILE["controls"] + "\n"),
    "front-matter-only-dashes": b"---\n---\n",
    "front-matter-list": b"---\n- a\n- b\n---\nText\n",
    "front-matter-scalar": b"---\njust text\n---\nText\n",
    "crlf": letter_file("title: A\nslug: crlf-file").replace(b"\n", b"\r\n"),
    "lone-cr": letter_file("title: A\nslug: cr-file").replace(b"\n", b"\r"),
}


@pytest.mark.parametrize("kind", list(LETTER_FILES))
def test_import_letter_refuses_a_hostile_file_whole_or_stores_it_clean(site, files, kind):
    path = files / f"{kind}-{site.backend}.md"
    path.write_bytes(LETTER_FILES[kind])
    before_counts, before_rows = counts(site), letter_rows(site)
    result = run(site, "import-letter", str(path))
    if refused(result, kind):
        if (counts(site), letter_rows(site)) != (before_counts, before_rows):
            figures.half_written(1)
        assert counts(site) == before_counts, kind
        assert letter_rows(site) == before_rows, kind
        return
    slug = result.stdout.strip()
    with site.context():
        row = db.session.execute(select(Letter.__table__).where(Letter.slug == slug)).first()
    if row is None:
        figures.half_written(1)
    assert row is not None, f"{kind}: printed {slug!r} but stored no such letter"
    assert letter_problems(dict(row._mapping)) == [], kind


@pytest.mark.parametrize("where", ["missing", "folder", "symlink-loop", "dangling-symlink",
                                   "dev-null", "long-name"])
def test_import_letter_from_a_path_that_is_no_letter_file_gives_one_line(site, files, where):
    path = files / f"{where}-{site.backend}"
    if where == "folder":
        path.mkdir()
    elif where == "symlink-loop":
        path.symlink_to(path)
    elif where == "dangling-symlink":
        path.symlink_to(files / "nowhere")
    elif where == "dev-null":
        path = Path("/dev/null")
    elif where == "long-name":
        path = files / ("a" * 300 + ".md")
    before = counts(site)
    assert refused(run(site, "import-letter", str(path)), where)
    assert counts(site) == before


def test_a_hostile_file_for_an_existing_letter_changes_nothing(site, files):
    before = letter_rows(site)
    for kind, front in {
        "deadline": f"title: Changed\nslug: {SLUG}\ndeadline: 2026-02-30",
        "status": f"title: Changed\nslug: {SLUG}\nstatus: gone",
        "language": f"title: Changed\nslug: {SLUG}\nlanguage: '!!'",
        "title": f"title: \"\\0\"\nslug: {SLUG}",
    }.items():
        path = files / f"existing-{kind}-{site.backend}.md"
        path.write_bytes(letter_file(front))
        assert refused(run(site, "import-letter", str(path)), kind)
        assert letter_rows(site) == before, kind


# ------------------------------------------------------------------ import-signatures


@pytest.mark.parametrize("kind", list(HOSTILE_CSVS))
def test_import_signatures_refuses_a_hostile_file_whole_or_stores_it_clean(site, files, kind):
    path = files / f"{kind}-{site.backend}.csv"
    path.write_bytes(HOSTILE_CSVS[kind])
    before = counts(site)["signature"]
    with site.context():
        newest = db.session.scalar(select(func.max(Signature.id))) or 0
    result = run(site, "import-signatures", SLUG, str(path))
    if refused(result, kind):
        if counts(site)["signature"] != before:
            figures.half_written(1)
        assert counts(site)["signature"] == before, kind
        return
    added = counts(site)["signature"] - before
    assert f"Imported {added} signatories" in result.stdout, (kind, result.stdout)
    with site.context():
        rows = db.session.execute(select(Signature.__table__)
                                  .where(Signature.id > newest)).all()
    for row in rows:
        assert all(clean(v) for v in row if isinstance(v, str)), (kind, row)
        assert row.organization.strip(), kind


@pytest.mark.parametrize("args", [
    ["no-such-letter", "{good}"], ["UPPER", "{good}"], ["é", "{good}"], ["", "{good}"],
    ["\u202eharbor", "{good}"], ["a" * 5_000, "{good}"], [SLUG, "{missing}"], [SLUG, "{folder}"],
    [SLUG, "/dev/null"], [SLUG, "{big}"], [SLUG, "{good}", "--approved", "--approved", "x"],
    [SLUG], [],
], ids=["unknown", "upper", "unicode", "empty", "rtl", "overlong", "missing", "folder",
        "dev-null", "too-big", "extra-args", "no-file", "nothing"])
def test_import_signatures_with_hostile_arguments_gives_one_line(site, files, args):
    good = files / f"good-{site.backend}.csv"
    good.write_text("organization,email\nDock Workers,dock@example.org\n", encoding="utf-8")
    big = files / f"big-{site.backend}.csv"
    if not big.exists():
        big.write_bytes(b"organization\n" + b"Union\n" * 800_000)
    folder = files / f"folder-{site.backend}"
    folder.mkdir(exist_ok=True)
    paths = {"good": good, "missing": files / "missing.csv", "folder": folder, "big": big}
    before = counts(site)["signature"]
    result = run(site, "import-signatures", *[a.format(**paths) for a in args])
    assert refused(result, str(args)[:60])
    assert counts(site)["signature"] == before


# ------------------------------------------------------------------ accounts


# Each try hashes a password first (a tenth of a second): the kinds that could upset a check.
EMAIL_KINDS = ["blank", "overlong", "nul", "controls", "lone-surrogate", "right-to-left",
               "zero-width", "emoji", "script", "crlf", "sql", "like"]
NAME_KINDS = ["overlong", "nul", "only-nul", "controls", "c1-controls", "lone-surrogate",
              "right-to-left", "script", "crlf", "combining"]


def organizer_rows(site: Site) -> list[tuple[str, str]]:
    with site.context():
        return [(o.email, o.name) for o in db.session.scalars(select(Organizer))]


def test_create_organizer_refuses_or_stores_clean_every_hostile_email(site):
    emails = [HOSTILE[k] for k in EMAIL_KINDS] + [
        e for e in list(UNUSUAL_EMAILS)[:12]] + ["STAFF@example.org", " staff@example.org "]
    for n, email in enumerate(emails):
        before = organizer_rows(site)
        result = run(site, "create-organizer", email, stdin=PASSWORD + "\n")
        if refused(result, repr(email[:40])):
            assert organizer_rows(site) == before, email[:40]
            continue
        [(address, _)] = sorted(set(organizer_rows(site)) - set(before))
        assert clean(address) and address == address.lower() and "@" in address, address
        assert address in result.stdout
        assert n >= len(EMAIL_KINDS), f"{email[:40]!r} was taken as an email address"


def test_create_organizer_refuses_or_stores_clean_every_hostile_name(site):
    for n, kind in enumerate(NAME_KINDS):
        before = organizer_rows(site)
        email = f"named{n}-{site.backend}@example.org"
        result = run(site, "create-organizer", email, "--name", HOSTILE[kind],
                     stdin=PASSWORD + "\n")
        if refused(result, kind):
            assert organizer_rows(site) == before, kind
            continue
        [(_, name)] = sorted(set(organizer_rows(site)) - set(before))
        assert clean(name), f"name={kind} stored as {name[:40]!r}"
        assert len(name) <= Organizer.__table__.c.name.type.length, kind


@pytest.mark.parametrize("command", ["create-organizer", "set-password"])
def test_a_hostile_password_on_standard_input_is_refused_in_one_line_or_kept_whole(site,
                                                                                   command):
    stdins: dict[str, str | bytes] = {
        "empty": "", "newline": "\n", "short": "short\n", "spaces": " " * 12 + "\n",
        "nul": "\x00" * 12 + "\n", "not-utf8": b"\xff\xfe" + b"x" * 12 + b"\n",
        "overlong": "p" * 100_000 + "\n", "crlf-split": "short\r\nlong enough password\n",
        "emoji": "🐝" * 10 + "\n",
    }
    for n, (kind, stdin) in enumerate(stdins.items()):
        email = f"pw{n}-{site.backend}@example.org" if command == "create-organizer" \
            else "staff@example.org"
        with site.context():
            hash_before = db.session.scalar(select(Organizer.password_hash)
                                            .where(Organizer.email == email))
        before = organizer_rows(site)
        result = run(site, command, email, stdin=stdin)
        with site.context():
            hash_after = db.session.scalar(select(Organizer.password_hash)
                                           .where(Organizer.email == email))
        if refused(result, f"{command} {kind}"):
            assert organizer_rows(site) == before and hash_after == hash_before, kind
            continue
        assert hash_after is not None and hash_after != hash_before, kind
        typed = stdin.decode("utf-8", "surrogateescape") if isinstance(stdin, bytes) else stdin
        assert accounts.hasher.verify(hash_after, typed.split("\n")[0].rstrip("\r")), kind


def test_set_password_for_a_hostile_or_unknown_email_gives_one_line(site):
    for kind in ("blank", "nul", "lone-surrogate", "script", "sql", "like", "overlong"):
        assert refused(run(site, "set-password", HOSTILE[kind], stdin=PASSWORD + "\n"), kind)


def roles_held(site: Site) -> list[tuple[Any, ...]]:
    with site.context():
        return [tuple(row) for row in db.session.execute(select(LetterRole.__table__))]


def test_grant_and_revoke_refuse_every_hostile_argument_in_one_line(site):
    """Each argument hostile in turn, the others good: an email, a slug, a role (a partner's
    code among them); nothing is granted or taken away."""
    before = roles_held(site)
    for kind, value in HOSTILE.items():
        for args in (("grant", value, SLUG, "viewer"), ("grant", "staff@example.org", value,
                                                        "viewer"),
                     ("grant", "staff@example.org", SLUG, value),
                     ("grant", "staff@example.org", SLUG, f"partner:{value}"),
                     ("revoke", value, SLUG), ("revoke", "staff@example.org", value)):
            assert refused(run(site, *args), f"{args[0]} {kind}"), (args[0], kind)
    for args in (["grant"], ["grant", "staff@example.org", SLUG], ["revoke", "x"],
                 ["grant", "staff@example.org", SLUG, "viewer", "extra"]):
        assert refused(run(site, *args), " ".join(args))
    assert roles_held(site) == before


def test_translations_init_refuses_every_hostile_language_and_writes_nothing(site):
    """`campaign translations init LANG` writes under campaign/translations/LANG: a hostile
    code (a path among them) is refused in one line before anything is read or written."""
    from campaign.i18n import TRANSLATIONS

    before = sorted(p.relative_to(TRANSLATIONS) for p in TRANSLATIONS.rglob("*"))
    for kind, value in {**HOSTILE, "path": "../../x", "dot": ".", "unknown": "qq",
                        "taken": "es"}.items():
        if "\x00" in value:
            continue  # no argument of a real command line holds a NUL
        assert refused(run(site, "translations", "init", value), kind), kind
    for args in (["translations", "init"], ["translations", "nonsense"],
                 ["translations", "init", "fr", "extra"]):
        assert refused(run(site, *args), " ".join(args))
    assert sorted(p.relative_to(TRANSLATIONS) for p in TRANSLATIONS.rglob("*")) == before


# ------------------------------------------------------------------ exports


@pytest.mark.parametrize("command", ["export-csv", "export-pdf", "export-letter"])
def test_an_export_with_a_hostile_slug_gives_one_line_and_writes_nothing(site, files, command):
    out = files / f"{command}-{site.backend}.out"
    for kind, value in HOSTILE.items():
        if "\x00" in value:
            continue  # no argument of a real command line holds a NUL
        assert refused(run(site, command, value, "-o", str(out)), kind)
        assert not out.exists(), kind


UNWRITABLE = {"folder": "{files}", "missing-folder": "{files}/nowhere/out",
              "under-a-file": "{file}/out", "proc": "/proc/version", "empty": ""}


@pytest.mark.parametrize("where", list(UNWRITABLE))
def test_export_csv_to_an_unwritable_place_gives_one_line(site, files, where):
    file = files / "plain-file"
    file.write_text("x")
    target = UNWRITABLE[where].format(files=files, file=file)
    for private in ([], ["--private"]):
        assert refused(run(site, "export-csv", SLUG, "-o", target, *private), where)


@pytest.mark.parametrize("where", list(UNWRITABLE))
def test_export_letter_to_an_unwritable_place_gives_one_line(site, files, where):
    file = files / "plain-file"
    file.write_text("x")
    assert refused(run(site, "export-letter", SLUG, "-o",
                       UNWRITABLE[where].format(files=files, file=file)), where)


def test_an_exported_letter_file_reads_back_after_hostile_imports(site, files):
    """Whatever the hostile files left in a letter, export-letter writes a file that
    import-letter takes back without a change."""
    out = files / f"back-{site.backend}.md"
    result = run(site, "export-letter", SLUG, "-o", str(out), hostile=False)
    assert result.exit_code == 0, result.stderr
    def letter() -> dict[str, Any]:
        with site.context():
            row = db.session.execute(select(Letter.__table__).where(Letter.slug == SLUG)).one()
            return {k: v for k, v in row._mapping.items() if k != "updated_at"}

    before = letter()
    result = run(site, "import-letter", str(out), hostile=False)
    assert result.exit_code == 0, result.stderr
    assert letter() == before


def test_export_pdf_to_a_folder_gives_one_line_and_an_addendum_of_an_open_letter_too(site,
                                                                                   files):
    assert refused(run(site, "export-pdf", SLUG, "-o", str(files)), "folder")
    out = files / f"addendum-{site.backend}.pdf"
    assert refused(run(site, "export-pdf", SLUG, "-o", str(out), "--addendum"), "addendum")
    assert not out.exists()


def test_the_public_csv_export_holds_no_email_or_phone(site, files):
    out = files / f"public-{site.backend}.csv"
    result = run(site, "export-csv", SLUG, "-o", str(out), hostile=False)
    assert result.exit_code == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    with site.context():
        secrets = {v for row in db.session.execute(select(Signature.email, Signature.phone))
                   for v in row if v}
    assert not [s for s in secrets if s in text]


# ------------------------------------------------------------------ the other commands


@pytest.mark.parametrize("args", [
    ["worker", "--interval", "abc"], ["worker", "--interval", ""], ["worker", "--once", "x"],
    ["worker", "--interval", "nan"], ["worker", "--interval", "inf"],
    ["worker", "--interval", "-1"], ["worker", "--interval", "0"],
    ["check-counts", "--repair", "extra"], ["check-counts", "--nope"],
    ["init-db", "extra"], ["demo", "--port", "99999999"], ["demo", "--port", "-1"],
    ["demo", "--port", "0"], ["demo", "--port", "http"], ["export-csv", SLUG],
    ["export-pdf"], ["create-organizer"], ["import-letter"], ["export-letter"],
    ["export-letter", SLUG, "-o"], ["purge-contacts", "extra"], ["purge-contacts", "--now"],
], ids=lambda a: "-".join(a)[:40])
def test_a_hostile_option_is_refused_before_anything_runs(site, args):
    before = counts(site)
    assert refused(run(site, *args), " ".join(args))
    assert counts(site) == before


def test_check_counts_after_hostile_imports_finds_the_kept_counts_right(site):
    result = run(site, "check-counts", hostile=False)
    assert result.exit_code == 0, result.stderr
    assert "equal a fresh count" in result.stdout


# ------------------------------------------------------------------ the real console script


def console(site: Site, tmp: Path, *args: str | bytes,
            stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_")}
    env.update(CAMPAIGN_INSTANCE_PATH=str(tmp / "instance"), CAMPAIGN_DATABASE_URL=site.url,
               CAMPAIGN_SECRET_KEY="cli-test-key")
    done = subprocess.run([str(CAMPAIGN), *args], input=stdin, capture_output=True, env=env,
                          timeout=120)
    figures.command(b"Traceback" in done.stdout + done.stderr)
    return done


def test_the_console_script_gives_one_line_for_hostile_bytes(site, files):
    """Bytes no CLI runner sends: a file name that is not UTF-8, a password that is not UTF-8,
    a binary letter file."""
    binary = files / "binary.md"
    binary.write_bytes(LETTER_FILES["binary"])
    before = counts(site)
    for args, stdin in [((b"import-letter", os.fsencode(binary)), b""),
                        ((b"import-letter", os.fsencode(files) + b"/\xff\xfe.md"), b""),
                        ((b"create-organizer", b"bytes@example.org"), b"\xff\xfe" * 8 + b"\n")]:
        done = console(site, files, *args, stdin=stdin)
        assert done.returncode != 0
        assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")[-800:]
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(b"Error: "), done.stderr
    assert counts(site) == before
