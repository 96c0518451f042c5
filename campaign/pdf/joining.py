"""The documents of a render joined into one PDF, and "Page N of M" stamped at the bottom right of
every page: in the footer's font (DejaVu Sans, embedded for the characters it needs), size,
colour and baseline, as WeasyPrint sets the title at the bottom left (static/pdf.css). Stamped
last, page numbers are in no part of the document, so a part does not depend on where it falls
(assemble.py). pypdf only: a few milliseconds a page."""
from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pypdf
from flask_babel import gettext as _
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    NumberObject,
    StreamObject,
)

from . import sheets

FOOTER = "Page {page} of {pages}"  # the text stamped, for each page; footer_text() translates it
FOOTER_SIZE = 7.5  # pt, as the title on the left (static/pdf.css, @bottom-left)
FOOTER_GRAY = 0.4  # #666
FOOTER_RIGHT = 65.197  # pt from the page's right edge: the 2.3cm margin
FOOTER_BASELINE = 49.731  # pt from the page's bottom edge: its 2.5cm margin less the .5cm padding
# and DejaVu Sans's ascent at 7.5pt (tests/test_pdf_parts.py checks it against the title's)


def join(pdfs: Sequence[Any], footer: str = FOOTER) -> tuple[bytes, int]:
    """The documents (PDFs, or PdfReaders of them) one after the other as one PDF, with the
    first one's metadata, outline and language, and `footer` ("Page {page} of {pages}") stamped
    at the bottom right of every page; with its page count."""
    writer = pypdf.PdfWriter(clone_from=read(pdfs[0]))
    for document in pdfs[1:]:
        writer.append(read(document))
    total = len(writer.pages)
    font = _footer_font(writer, footer)
    save = writer._add_object(_stream(b"q\n"))  # pypdf has no public way to add an object
    for number, page in enumerate(writer.pages, start=1):
        box = page.mediabox
        text = footer.format(page=number, pages=total)
        x = float(box.right) - FOOTER_RIGHT - font.width(text)
        y = float(box.bottom) + FOOTER_BASELINE
        stamp = (f"Q q BT /{font.name} {FOOTER_SIZE} Tf {FOOTER_GRAY} g 1 0 0 1 {x:.3f} {y:.3f} "
                 f"Tm ").encode() + _pdf_string(text) + b" Tj ET Q\n"
        contents = page.get("/Contents")
        existing = contents.get_object() if contents is not None else ArrayObject()
        streams = list(existing) if isinstance(existing, ArrayObject) else [contents]
        page[NameObject("/Contents")] = ArrayObject(
            [save, *streams, writer._add_object(_stream(stamp))])
        resources = page.setdefault(NameObject("/Resources"), DictionaryObject())
        fonts = resources.get_object().setdefault(NameObject("/Font"), DictionaryObject())
        fonts.get_object()[NameObject("/" + font.name)] = font.ref
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), total


def footer_text() -> str:
    """FOOTER in the language of the moment: the translated words, the page numbers where its
    placeholders are (any brace the words hold kept as it is)."""
    words = _("Page %(page)s of %(pages)s", page="\0", pages="\1")
    return (words.replace("{", "{{").replace("}", "}}")
            .replace("\0", "{page}").replace("\1", "{pages}"))


def read(pdf: Any) -> Any:
    """A PdfReader of a PDF, every object of it read (so that joining it then only copies)."""
    if isinstance(pdf, pypdf.PdfReader):
        return pdf
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    for number in range(1, int(reader.trailer.get("/Size", 0))):
        reader.get_object(number)
    return reader


def _stream(data: bytes) -> Any:
    stream = StreamObject()
    stream.set_data(data)
    return stream


def _pdf_string(text: str) -> bytes:
    """`text` as a PDF string in WinAnsiEncoding."""
    data = text.encode("cp1252", errors="replace")
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


@dataclass(frozen=True)
class _Font:
    name: str
    ref: Any
    widths: tuple[float, ...]  # per code from 32 to 255, in thousandths of an em

    def width(self, text: str) -> float:
        codes = text.encode("cp1252", errors="replace")
        return sum(self.widths[c - 32] if c >= 32 else 0 for c in codes) * FOOTER_SIZE / 1000


def _footer_font(writer: Any, footer: str) -> _Font:
    """The font to stamp page numbers in, added to `writer`: DejaVu Sans as the title beside it,
    cut down to the characters the footer takes; Helvetica if DejaVu Sans is not there."""
    chars = _footer_chars(footer)
    try:
        data, widths, metrics = _subset(chars)
    except sheets.Unmeasurable:
        helvetica = DictionaryObject({
            NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding")})
        return _Font("FPageNumber", writer._add_object(helvetica), (556.0,) * 224)
    tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(chars.encode()).digest()[:6])
    name = f"{tag}+DejaVuSans"  # a subset's name, as PDF wants it
    file = _stream(data).flate_encode()
    file[NameObject("/Length1")] = NumberObject(len(data))
    descriptor = DictionaryObject({
        NameObject("/Type"): NameObject("/FontDescriptor"), NameObject("/FontName"):
        NameObject("/" + name), NameObject("/Flags"): NumberObject(32),
        NameObject("/FontBBox"): ArrayObject([FloatObject(v) for v in metrics["bbox"]]),
        NameObject("/ItalicAngle"): NumberObject(0),
        NameObject("/Ascent"): FloatObject(metrics["ascent"]),
        NameObject("/Descent"): FloatObject(metrics["descent"]),
        NameObject("/CapHeight"): FloatObject(metrics["cap"]),
        NameObject("/StemV"): NumberObject(80),
        NameObject("/FontFile2"): writer._add_object(file)})
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/TrueType"),
        NameObject("/BaseFont"): NameObject("/" + name),
        NameObject("/FirstChar"): NumberObject(32), NameObject("/LastChar"): NumberObject(255),
        NameObject("/Widths"): ArrayObject([FloatObject(w) for w in widths]),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        NameObject("/FontDescriptor"): writer._add_object(descriptor)})
    return _Font("FPageNumber", writer._add_object(font), widths)


def prepare(footer: str = FOOTER) -> None:
    """Make the font the footer is stamped in ahead of time (once per process and footer)."""
    with suppress(sheets.Unmeasurable):  # then stamped in Helvetica
        _subset(_footer_chars(footer))


def _footer_chars(footer: str) -> str:
    return "".join(sorted(set(footer.format(page=0, pages=0)) | set("0123456789")))


@functools.lru_cache(maxsize=8)
def _subset(chars: str) -> tuple[bytes, tuple[float, ...], dict[str, Any]]:
    """DejaVu Sans with only `chars` (and .notdef): the font file, the width of each code from 32
    to 255 in WinAnsiEncoding (thousandths of an em), and the metrics of its descriptor."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    with TTFont(sheets.font_path("sans"), lazy=True) as font:
        for table in ("GSUB", "GPOS", "GDEF", "kern", "FFTM"):  # not used by a PDF's text:
            if table in font:  # dropped before they are read, which would take most of the time
                del font[table]
        options = subset.Options()
        options.layout_features = []
        options.hinting = False
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(font)
        scale = 1000 / font["head"].unitsPerEm
        cmap = font.getBestCmap()
        widths = []
        for code in range(32, 256):
            glyph = cmap.get(ord(bytes([code]).decode("cp1252", errors="replace")))
            widths.append(round(font["hmtx"][glyph][0] * scale, 3) if glyph else 0.0)
        head, hhea = font["head"], font["hhea"]
        metrics = {"bbox": [round(v * scale) for v in (head.xMin, head.yMin, head.xMax,
                                                        head.yMax)],
                   "ascent": round(hhea.ascent * scale), "descent": round(hhea.descent * scale),
                   "cap": round(getattr(font["OS/2"], "sCapHeight", 0) * scale) or 729}
        out = io.BytesIO()
        font.save(out)
    return out.getvalue(), tuple(widths), metrics
