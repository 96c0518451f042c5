"""The naive PDF baseline: `naive_pdf.py SIGNERS.csv OUT.pdf`.

One WeasyPrint pass over the same names, in listing order under the same headings, in a plain
two-column list made with CSS columns: what a first version of the signed letter would do.
"""
from __future__ import annotations

import csv
import html
import sys
from itertools import groupby

from weasyprint import HTML

HEADINGS = {"national": "National organizations", "state": "State and regional organizations",
            "local": "Local organizations", "international": "International organizations"}
STYLE = """
@page { size: letter; margin: 2.2cm 2.3cm 2.5cm;
        @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 7.5pt } }
html { font-family: "DejaVu Serif", serif; font-size: 10.5pt; line-height: 1.45; }
h1, h2 { font-family: "DejaVu Sans", sans-serif; }
ul { columns: 2; column-gap: 1.2em; list-style: none; padding: 0; font-size: 9.2pt; }
li { break-inside: avoid; margin-bottom: .55em; }
li b, li span { display: block; }
"""


def main() -> None:
    with open(sys.argv[1], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    parts = [f"<!doctype html><html><head><meta charset=utf-8><style>{STYLE}</style></head><body>",
             "<h1>Signed letter</h1><p>The undersigned organizations ask the Bureau to stop "
             "forwarding fingerprints.</p>"]
    for scope, items in groupby(rows, key=lambda r: r["scope"]):
        parts.append(f"<h2>{HEADINGS[scope]}</h2><ul>")
        for r in items:
            place = ", ".join(p for p in (r["city"], r["region"]) if p)
            parts.append(f"<li><b>{html.escape(r['organization'])}</b>"
                         f"<span>{html.escape(place)}</span></li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    HTML(string="".join(parts)).write_pdf(sys.argv[2])


if __name__ == "__main__":
    main()
