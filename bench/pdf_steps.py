"""What each step of the full render gains: `pdf_steps.py SLUG RESULT.json`, in the app's
environment (CAMPAIGN_* as the bench's server has them).

The same letter rendered with no parts kept, each step added to the one before:
1. one document: the letter and its whole list in one WeasyPrint pass, which balances the
   columns and paginates the list itself (the way a short list is rendered);
2. in parts: the list cut into parts at stable places, each part a document of its own rendered
   in one process, WeasyPrint still paginating each part;
3. laid out ahead: each part's pages and columns planned from the names' measured widths
   (sheets.py), so that WeasyPrint only draws them;
4. on every core: the parts rendered in forks, one per core (as the worker renders).
It writes the seconds of each (assemble.render's own count).
"""
from __future__ import annotations

import json
import sys
from typing import Any

from campaign import create_app, letters, listing
from campaign.models import utcnow
from campaign.pdf import assemble, html


def main() -> None:
    slug, result = sys.argv[1], sys.argv[2]
    app = create_app()
    seconds: dict[str, float] = {}
    planned = assemble._planned

    def unplanned(part: Any, shows: Any) -> assemble.Document:
        return assemble.Document(html.part_html(part, None, shows))

    steps = [("one document", {"PARTS_FROM": 10**9}, 1, unplanned),
             ("in parts", {}, 1, unplanned),
             ("laid out ahead", {}, 1, planned),
             ("on every core", {}, html.workers(), planned)]
    with app.app_context():
        letter = letters.get_letter(slug)
        rows = listing.rows(letter)
        for name, constants, workers, plan in steps:
            parts_from = html.PARTS_FROM
            html.PARTS_FROM = constants.get("PARTS_FROM", parts_from)
            assemble.workers = lambda n=workers: n  # type: ignore[misc]
            assemble._planned = plan  # type: ignore[assignment]
            try:
                made = assemble.render(letter, rows, utcnow(), assemble.MemoryStore())
            finally:
                html.PARTS_FROM = parts_from
            seconds[name] = made.seconds
    with open(result, "w") as f:
        json.dump(seconds, f)


if __name__ == "__main__":
    main()
