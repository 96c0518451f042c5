"""An incremental PDF render: `incremental_pdf.py SLUG RESULT.json [--warm]`, in the app's
environment (CAMPAIGN_* as the bench's server has them).

It renders the letter's PDF with an empty parts store (a full render), approves one more
signatory whose name falls in the middle of the list, and renders again with the same store, as
the worker does after an approval; then it takes the new signatory away again. With --warm, the
renderer is kept started ahead (child.keep_warm), as `campaign worker` keeps it, and the second
render waits until it is ready, as a worker's next render finds it. It writes the seconds of
each render (assemble.render's own count) and how many parts the second one used again.
"""
from __future__ import annotations

import json
import sys
import time

from campaign import create_app, letters, listing
from campaign.database import writing
from campaign.extensions import db
from campaign.models import Signature, utcnow
from campaign.pdf import assemble, child
from campaign.text import org_key, sort_key


def main() -> None:
    slug, result = sys.argv[1], sys.argv[2]
    warm = "--warm" in sys.argv[3:]
    app = create_app()
    with app.app_context():
        if warm:
            child.keep_warm()
            time.sleep(3)  # the child started ahead has loaded WeasyPrint
        letter = letters.get_letter(slug)
        rows = listing.rows(letter)
        store = assemble.MemoryStore()
        first = assemble.render(letter, rows, utcnow(), store)
        middle = rows[len(rows) // 2]
        name = f"{middle.shown_name} Bis"
        with writing():
            new = Signature(letter_id=letter.id, organization=name, sort_key=sort_key(name),
                            org_key=org_key(name), contact_name="Ana Ruiz",
                            email="incremental@example.org", phone="555 0100", city="Tucson",
                            region="AZ", country="United States", scope=middle.scope,
                            status="approved", source="import")
            db.session.add(new)
        rows = listing.rows(letter)
        assert sum(1 for row in rows if row.shown_name == name) == 1
        if warm:
            time.sleep(3)  # as an approval comes a while after the render before it
        second = assemble.render(letter, rows, utcnow(), store)
        with writing():
            db.session.delete(new)
    with open(result, "w") as f:
        json.dump({"first": first.seconds, "second": second.seconds, "pages": second.pages,
                   "parts": second.parts, "reused": second.reused}, f)


if __name__ == "__main__":
    main()
