"""The one read model (listing.py): pages across scopes, JSON pages, and the counts kept by the
database's triggers, equal to a fresh count whatever changes a signature and wherever from."""
from __future__ import annotations

import random
import subprocess

import pytest
import requests
import sqlalchemy as sa
from support import SECRET, assert_one_line_error
from support_servers import VENV_BIN, campaign_env, gunicorn

from campaign import agreed, count_check, listing, moderation, signing, spreadsheets
from campaign.database import writing
from campaign.extensions import db
from campaign.models import ORGANIZATION_SCOPES, SCOPES, ListedCount, Signature
from campaign.views import lists

LIST = "/letters/stop-forwarding/signers"
OUT_OF_ORDER = ("international", "local", "state", "national")


@pytest.fixture
def mixed(make_letter, make_signature):
    """Eleven signatories in all four scopes, created out of listing order."""
    letter = make_letter()
    for n in range(11):
        make_signature(letter, organization=f"Group {n:02d}", scope=OUT_OF_ORDER[n % 4])
    return letter


def names(rows) -> list[str]:
    return [row.shown_name for row in rows]


def in_sync() -> bool:
    return count_check.count_mismatches() == {}


# ------------------------------------------------------------------ pages


def test_the_whole_list_is_grouped_by_scope_then_sorted_by_name(app, mixed):
    rows = listing.rows(mixed)
    assert [row.scope for row in rows] == sorted((row.scope for row in rows), key=SCOPES.index)
    for scope in SCOPES:
        shown = [row.shown_name for row in rows if row.scope == scope]
        assert shown == sorted(shown)


def test_pages_that_span_scopes_are_the_listing_order_cut_in_pieces(app, mixed):
    whole = names(listing.rows(mixed))
    assert len(whole) == 11
    for size in (1, 2, 3, 4, 11):
        pieces = [names(listing.page(mixed, offset=at, limit=size)) for at in range(0, 11, size)]
        assert [name for piece in pieces for name in piece] == whole, size


def test_a_page_past_the_end_is_empty(app, mixed):
    assert listing.page(mixed, offset=11, limit=5) == []


def test_every_output_reads_the_same_rows(app, client, mixed):
    """The page, its JSON and its CSV show the same signatories in the same order."""
    whole = names(listing.rows(mixed))
    page = client.get(LIST).get_data(as_text=True)
    assert [page.index(name) for name in whole] == sorted(page.index(name) for name in whole)
    data = client.get(LIST + ".json").get_json()
    assert [row["organization"] for row in data["signatories"]] == whole
    lines = client.get(LIST + ".csv").get_data(as_text=True).splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == whole


def test_private_rows_carry_the_contact_and_public_ones_do_not(app, mixed):
    private = listing.rows(mixed, private=True)[0]
    assert private.email.endswith("@example.org") and private.phone
    public_row = listing.rows(mixed)[0]
    assert (public_row.email, public_row.phone, public_row.website) == ("", "", "")


def test_a_rename_is_the_shown_name_everywhere(app, client, mixed):
    target = db.session.scalar(sa.select(Signature).where(Signature.organization == "Group 03"))
    with writing():
        moderation.rename(target, "Renamed Collective")
    assert "Renamed Collective" in names(listing.rows(mixed))
    assert "Renamed Collective" in client.get(LIST).get_data(as_text=True)
    assert "Renamed Collective" in client.get(LIST + ".csv").get_data(as_text=True)


def test_json_pages_followed_by_next_give_the_whole_list_once(client, mixed, monkeypatch):
    monkeypatch.setattr(lists, "JSON_PAGE_SIZE", 4)
    url, seen = LIST + ".json", []
    while url:
        data = client.get(url).get_json()
        assert data["count"] == 11 and data["pages"] == 3
        seen += [row["organization"] for row in data["signatories"]]
        url = data["next"]
    assert seen == names(listing.rows(mixed))


def test_a_json_page_number_past_the_end_gives_the_last_page(client, mixed, monkeypatch):
    monkeypatch.setattr(lists, "JSON_PAGE_SIZE", 4)
    data = client.get(LIST + ".json?page=99").get_json()
    assert data["page"] == 3 and data["next"] is None and len(data["signatories"]) == 3


# ------------------------------------------------------------------ the kept counts


def test_the_counts_are_kept_per_scope_and_read_without_counting_rows(app, mixed):
    kept = {row.scope: row.listed for row in db.session.scalars(
        sa.select(ListedCount).where(ListedCount.letter_id == mixed.id))}
    assert kept == {"international": 3, "local": 3, "state": 3, "national": 2}
    assert listing.scope_counts(mixed) == {"national": 2, "state": 3, "local": 3,
                                           "international": 3}
    assert listing.count(mixed) == 11


def test_the_count_follows_an_approval_and_a_rejection_at_once(app, client, mixed,
                                                               make_signature):
    waiting = make_signature(mixed, "pending", organization="Late Group")
    assert listing.count(mixed) == 11
    with writing():
        moderation.decide(mixed, [waiting.id], approve=True)
    assert listing.count(mixed) == 12
    assert "<strong>12</strong> organizations" in client.get(LIST).get_data(as_text=True)
    with writing():
        moderation.decide(mixed, [waiting.id], approve=False)
    assert listing.count(mixed) == 11
    assert in_sync()


def test_a_change_rolled_back_takes_its_count_with_it(app, mixed, make_signature):
    waiting = make_signature(mixed, "pending", organization="Late Group")
    with pytest.raises(RuntimeError), writing():
        moderation.decide(mixed, [waiting.id], approve=True)
        assert listing.count(mixed) == 12  # this transaction sees its own change
        raise RuntimeError("the request failed after the approval")
    assert listing.count(mixed) == 11
    assert in_sync()


def test_held_rejected_and_unconfirmed_signatures_are_not_counted(app, mixed, make_signature):
    make_signature(mixed, "unconfirmed")
    make_signature(mixed, "rejected")
    make_signature(mixed, "pending")
    held = make_signature(mixed, "approved")
    with writing():
        db.session.execute(sa.update(Signature).where(Signature.id == held.id).values(held=True))
    assert listing.count(mixed) == 11
    assert in_sync()


def test_a_deleted_signature_leaves_the_count(app, mixed):
    with writing():
        db.session.execute(sa.delete(Signature).where(Signature.organization == "Group 00"))
    assert listing.count(mixed) == 10
    assert in_sync()


def test_a_scope_changed_moves_the_count(app, mixed):
    with writing():
        db.session.execute(sa.update(Signature).where(Signature.organization == "Group 01")
                           .values(scope="national"))
    assert listing.scope_counts(mixed)["national"] == 3
    assert listing.scope_counts(mixed)["local"] == 2
    assert in_sync()


def test_an_import_of_many_rows_counts_each_scope_once_per_row(app, make_letter):
    letter = make_letter()
    lines = ["organization,scope"] + [f"Group {n},{OUT_OF_ORDER[n % 4]}" for n in range(1000)]
    with writing():
        spreadsheets.import_csv(letter, "\n".join(lines) + "\n", approved=True)
    assert listing.scope_counts(letter) == {scope: 250 for scope in ORGANIZATION_SCOPES}
    assert in_sync()


def test_a_confirmation_that_lists_at_once_is_counted(app, make_letter):
    letter = make_letter(require_approval=False)
    with writing():
        outcome = signing.sign(letter.slug, signing.submission(
            signing.SignerInput("Counted Union", email="c@example.org")))
    assert listing.count(letter) == 0
    with writing():
        signing.confirm(outcome.signature)
    assert listing.count(letter) == 1
    assert in_sync()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_kept_counts_equal_a_fresh_count_after_any_mix_of_changes(app, make_letter,
                                                                      make_signature, seed):
    rng = random.Random(seed)
    letters = [make_letter(slug=f"letter-{n}", title=f"Letter {n}") for n in range(2)]
    made = [make_signature(rng.choice(letters), rng.choice(("pending", "approved", "rejected")),
                           scope=rng.choice(SCOPES)) for _ in range(30)]
    for _ in range(40):
        target = rng.choice(made)
        change = rng.choice(("approve", "reject", "hold", "release", "scope", "delete"))
        with writing():
            letter = db.session.get(type(letters[0]), target.letter_id)
            if change in ("approve", "reject"):
                moderation.decide(letter, [target.id], approve=change == "approve")
            elif change in ("hold", "release"):
                db.session.execute(sa.update(Signature).where(Signature.id == target.id)
                                   .values(held=change == "hold"))
            elif change == "scope":
                db.session.execute(sa.update(Signature).where(Signature.id == target.id)
                                   .values(scope=rng.choice(SCOPES)))
            else:
                db.session.execute(sa.delete(Signature).where(Signature.id == target.id))
        assert in_sync(), change
    assert sum(listing.count(letter) for letter in letters) == \
        sum(count_check.fresh_counts().values())


def test_check_counts_says_the_counts_are_right(runner, mixed):
    result = runner.invoke(args=["check-counts"])
    assert result.exit_code == 0, result.output
    assert "equal a fresh count" in result.stdout


def test_check_counts_finds_a_wrong_count_and_repairs_it(runner, mixed):
    with writing():
        db.session.execute(sa.update(ListedCount).where(ListedCount.scope == "local")
                           .values(listed=99))
    result = runner.invoke(args=["check-counts"])
    assert_one_line_error(result, "1 kept count(s) differ")
    assert f"letter {mixed.id}, local: kept 99, counted 3" in result.stdout
    repaired = runner.invoke(args=["check-counts", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert "Repaired 1 count(s)." in repaired.stdout
    db.session.rollback()
    assert listing.count(mixed) == 11 and in_sync()


# ------------------------------------------------------------------ other processes


def test_a_signatory_approved_by_another_app_is_listed_on_the_next_view(app_config, app, mixed,
                                                                       new_client):
    """Another worker is another app on the same database: its approval shows on this
    worker's very next page, even in a scope the page did not show before."""
    from campaign import create_app

    letter_id = mixed.id
    visitor = new_client()
    assert "Statewide Newcomer" not in visitor.get(LIST).get_data(as_text=True)
    db.session.commit()  # the test's own session holds no snapshot while the other app writes
    other = create_app(app_config)
    with other.app_context():
        with writing():
            letter = db.session.get(type(mixed), letter_id)
            spreadsheets.import_csv(letter, "organization,scope\nStatewide Newcomer,state\n",
                                    approved=True)
        db.session.remove()
        db.engine.dispose()
    page = visitor.get(LIST).get_data(as_text=True)
    assert "Statewide Newcomer" in page
    assert "<strong>12</strong> organizations" in page


def test_an_import_from_the_command_line_while_the_server_runs_is_counted_at_once(
        database_url, mixed, tmp_path):
    """gunicorn serves the list; `campaign import-signatures --approved` runs as its own process
    on the same database; the server's next answers count and list the new rows."""
    db.session.commit()
    db.session.remove()
    db.engine.dispose()
    csv_file = tmp_path / "more.csv"
    csv_file.write_text("organization,scope\nCommand Line Allies,state\nKeyboard Union,local\n")
    with gunicorn(tmp_path, DATABASE_URL=database_url) as server:
        before = requests.get(f"{server.base}/letters/stop-forwarding/signers.json", timeout=30)
        assert before.json()["count"] == 11
        done = subprocess.run(
            [str(VENV_BIN / "campaign"), "import-signatures", "stop-forwarding", str(csv_file),
             "--approved"], capture_output=True, text=True, timeout=120,
            env=campaign_env(DATABASE_URL=database_url, SECRET_KEY=SECRET,
                             INSTANCE_PATH=tmp_path / "cli-instance"))
        assert done.returncode == 0, done.stderr
        for _ in range(4):  # whichever of the two workers answers
            after = requests.get(f"{server.base}/letters/stop-forwarding/signers.json",
                                 timeout=30).json()
            assert after["count"] == 13
            assert {"Command Line Allies", "Keyboard Union"} <= {
                row["organization"] for row in after["signatories"]}
        page = requests.get(f"{server.base}/letters/stop-forwarding", timeout=30).text
        assert "<strong>13</strong>" in page


def test_the_earlier_signatories_are_counted_along_their_own_index(app, make_letter,
                                                                   make_signature):
    """A letter whose text changed counts those who agreed to an earlier text without reading
    the rest of its list: along ix_signature_version, not the listing index."""
    from campaign.models import LetterVersion, utcnow

    letter = make_letter()
    first = letter.current_version.id
    for n in range(3):
        make_signature(letter, organization=f"Earlier Group {n}")
    with writing():
        change = LetterVersion(letter_id=letter.id, number=2, title=letter.title,
                               recipient=letter.recipient, body="Changed.\n",
                               content_hash="c" * 64, kind="change")
        db.session.add(change)
    later = make_signature(letter, organization="Later Group")
    with writing():
        db.session.execute(sa.update(Signature).where(Signature.id == later.id)
                           .values(version_id=change.id))
    split = agreed.Split(change.id, 2, utcnow(), {first: 1, change.id: 2})
    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", grab)
    try:
        assert listing.earlier_counts(letter, split) == {"local": 3}
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", grab)
    statement, parameters = seen[-1]
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = [row[-1] for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters)]
        else:  # a few rows: without this PostgreSQL reads the table rather than any index
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
            conn.exec_driver_sql("RESET enable_seqscan")
    text = "\n".join(plan)
    assert "ix_signature_version" in text and "ix_signature_listing" not in text, text
