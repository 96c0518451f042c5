"""A first walk through the app: the example letter can be read."""
from __future__ import annotations


def test_open_letter_is_public_and_draft_is_not(client, make_letter):
    make_letter()
    make_letter(slug="secret-draft", title="Secret", status="draft")
    page = client.get("/letters/stop-forwarding").get_data(as_text=True)
    assert "Stop Forwarding Fingerprints" in page
    assert client.get("/letters/secret-draft").status_code == 404
    assert client.get("/letters/nope").status_code == 404
