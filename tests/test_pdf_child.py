"""The render's child process (child.py running writer.py): its documents rendered in forks of
its own and given back in order, a part that did not come out as planned told apart, the time
limit, and the child kept started ahead for a process that renders again and again."""
from __future__ import annotations

import io

import pypdf
import pytest
from support_pdf import pdf_text, png

from campaign.errors import PdfUnavailable
from campaign.pdf import child
from campaign.pdf.child import Document, render_documents

LONG = "<p>" + " ".join(f"word{n}" for n in range(40000)) + "</p>"


def test_documents_come_back_in_order_and_a_part_not_as_planned_as_none():
    made = render_documents([Document("<p>first</p>"), Document("<p>second</p>", pages=3),
                             Document('<p>third<i id="end"></i></p>', pages=1, ends={"end": 0}),
                             Document("<p>fourth</p>")], {}, timeout=120, workers=2)
    assert made[1] is None
    assert ["first" in pdf_text(made[0]), "third" in pdf_text(made[2]),
            "fourth" in pdf_text(made[3])] == [True, True, True]
    assert b"/Dests" not in made[2] and b"(end)" not in made[2]  # the end was only checked


def test_a_render_over_its_time_limit_is_stopped():
    with pytest.raises(PdfUnavailable, match="took longer than 0.5 seconds"):
        render_documents([Document(LONG)], {}, timeout=0.5)


def test_a_child_kept_warm_makes_the_next_render_and_another_is_started():
    child.keep_warm()
    try:
        spare = child._spare
        assert spare is not None and spare.poll() is None
        [made] = render_documents([Document("<p>warm</p>")], {}, timeout=120)
        assert "warm" in pdf_text(made)
        assert spare.wait(10) == 0  # it made that render, and ended
        assert child._spare is not None and child._spare is not spare
    finally:
        child.keep_warm(False)
    assert child._spare is None


def test_images_are_given_to_the_child_as_bytes():
    name = "d" * 32 + ".png"
    [made] = render_documents([Document(f'<img src="uploads/{name}">')], {name: png(30, 20)},
                              timeout=120)
    [image] = pypdf.PdfReader(io.BytesIO(made)).pages[0].images
    assert image.image.size == (30, 20)
