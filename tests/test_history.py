"""The letter's history: the audit log as organizers read it, filtered, read only."""
from __future__ import annotations

import pytest
from support import submit

from campaign import audit, letters
from campaign.database import writing
from campaign.extensions import db
from campaign.models import AuditEntry


def test_history_lists_the_changes_with_who_and_the_values_before_and_after(admin, make_letter):
    letter = make_letter(status="draft")
    page = admin.get(f"/admin/letters/{letter.slug}/history")
    assert page.status_code == 200 and "Nothing is recorded yet" in page.text
    with writing():
        letters.set_status(letter, "collecting")  # from the command line: no organizer
    with writing():
        letters.open_to_public(db.session.get(type(letter), letter.id), actor="worker")

    page = admin.get(f"/admin/letters/{letter.slug}/history").text
    assert "Status changed" in page and "Opened to the public" in page
    assert "command line" in page and "worker" in page
    assert "<code>draft</code>" in page and "<code>collecting</code>" in page
    table = page[page.index("<tbody>"):]
    assert table.index("Opened to the public") < table.index("Status changed")  # newest first

    only = admin.get(f"/admin/letters/{letter.slug}/history?action=letter.open").text
    assert "Opened to the public" in only and "<code>draft</code>" not in only
    unknown = admin.get(f"/admin/letters/{letter.slug}/history?action=%00nope")
    assert unknown.status_code == 200 and "Status changed" in unknown.text


def test_an_organizers_change_is_recorded_under_their_email(admin, make_letter):
    letter = make_letter()
    form = admin.get(f"/admin/letters/{letter.slug}/edit")
    assert form.status_code == 200
    response = submit(admin, f"/admin/letters/{letter.slug}/edit", {"status": "closed"}, "Save")
    assert response.status_code in (200, 303), response.status_code
    entry = db.session.query(AuditEntry).filter_by(letter_id=letter.id,
                                                   action="letter.status").one()
    assert entry.actor == "staff@example.org" and entry.organizer_id is not None
    assert audit.changes(entry) == ("open", "closed")


def test_history_needs_a_login_and_offers_no_way_to_change_an_entry(admin, new_client,
                                                                    make_letter):
    letter = make_letter()
    with writing():
        letters.set_status(letter, "closed")
    page = admin.get(f"/admin/letters/{letter.slug}/history").text
    assert "/history" not in "".join(  # no form posts to it: the only form is the filter
        part.split(">")[0] for part in page.split("<form")[1:] if "method=\"post\"" in part)
    assert not any(rule.rule.startswith("/admin/letters/<slug>/history") and
                   rule.methods and "POST" in rule.methods
                   for rule in admin.application.url_map.iter_rules())
    response = new_client().get(f"/admin/letters/{letter.slug}/history")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_an_entry_is_written_only_inside_the_unit_of_its_change(app, make_letter):
    letter = make_letter()
    from campaign.database import WriteOutsideUnit

    with pytest.raises(WriteOutsideUnit):
        audit.record(letter, "letter.status")
