"""Build small EPUB 2/3 files inside tests with zipfile (our own words, no real books)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="{opf}" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>"""

PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>{title}</title><style>p {{ margin: 0 }}</style></head>
<body{body_type}>
{body}
</body>
</html>"""


@dataclass
class Page:
    """One spine page: file name (under OEBPS/text/), XHTML body, and how the book marks it."""

    name: str
    body: str
    epub_type: str | None = None  # on <body epub:type="...">
    landmark: str | None = None  # EPUB 3 nav landmarks / EPUB 2 guide type
    toc_label: str | None = None  # entry in nav toc / NCX
    linear: bool = True


def chapter(title: str, *paragraphs: str, label: str | None = None, level: int = 1) -> str:
    """XHTML for a chapter: an h1 label (e.g. 'Chapter 1'), an optional h2 title, paragraphs."""
    heads = f"<h{level}>{escape(label)}</h{level}>\n" if label else ""
    heads += f"<h{level + 1 if label else level}>{escape(title)}</h{level + 1 if label else level}>"
    return heads + "\n" + "\n".join(f"<p>{p}</p>" for p in paragraphs)


def standard_pages() -> list[Page]:
    """A typical novel: cover, title, copyright, dedication-free front matter and back matter."""
    return [
        Page(
            "cover.xhtml",
            '<div><img src="../images/cover.jpg" alt="Cover"/></div>',
            epub_type="cover",
            landmark="cover",
            linear=False,
        ),
        Page("title.xhtml", "<h1>The Glass Orchard</h1><p>Mira Vell</p>", landmark="titlepage"),
        Page(
            "copyright.xhtml",
            "<p>Copyright © 2031 by Mira Vell. All rights reserved.</p>"
            "<p>ISBN 000-0-00-000000-0</p><p>Printed in Nowhere.</p>",
        ),
        Page(
            "ack.xhtml",
            "<h1>Acknowledgements</h1><p>Thanks to my editor, my agent, "
            "and the orchard keepers who let me wander.</p>",
        ),
        Page(
            "prologue.xhtml",
            chapter(
                "Prologue",
                "The orchard was glass before it was anything else.",
                "Nobody remembered planting it.",
            ),
            toc_label="Prologue",
        ),
        Page(
            "ch01.xhtml",
            chapter(
                "The Keeper",
                "Tamsin counted the trees at dawn.",
                "\u201cThirty,\u201d she said. \u201cAlways thirty.\u201d",
                "Mr. Oake nodded. Dr. Pell did not.",
                label="Chapter 1",
            ),
        ),
        Page(
            "ch02.xhtml",
            chapter(
                "The Crack",
                "A branch rang like a bell and split.",
                "She wrote it down in the <i>ledger</i> \u2014 carefully.",
                label="Chapter 2",
            ),
        ),
        Page(
            "interlude.xhtml",
            chapter("Interlude: The Wind", "Far away, the wind turned."),
            epub_type="interlude",
        ),
        Page(
            "ch03.xhtml",
            chapter(
                "The Mending",
                "Tamsin mended the branch with silver wire.",
                "It held.",
                label="Chapter 3",
            ),
        ),
        Page("epilogue.xhtml", chapter("Epilogue", "In spring the orchard rang again.")),
        Page(
            "alsoby.xhtml",
            "<h2>Also by Mira Vell</h2><p>The Salt Library</p><p>A Map of Small Rooms</p>",
        ),
    ]


def _opf(pages: list[Page], version: int, metadata: str, spine_extra: str) -> str:
    items = [
        f'<item id="p{i}" href="text/{p.name}" media-type="application/xhtml+xml"/>'
        for i, p in enumerate(pages)
    ]
    items.append(
        '<item id="img" href="images/cover.jpg" media-type="image/jpeg"'
        + (' properties="cover-image"/>' if version == 3 else "/>")
    )
    if version == 3:
        items.append(
            '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        )
    else:
        items.append('<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>')
    nonlinear = ' linear="no"'
    refs = [f'<itemref idref="p{i}"{"" if p.linear else nonlinear}/>' for i, p in enumerate(pages)]
    guide = "".join(
        f'<reference type="{p.landmark}" href="text/{p.name}" title="x"/>'
        for p in pages
        if p.landmark
    )
    toc_attr = ' toc="ncx"' if version == 2 else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="{version}.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
{metadata}
</metadata>
<manifest>{"".join(items)}</manifest>
<spine{toc_attr}>{"".join(refs)}{spine_extra}</spine>
{f"<guide>{guide}</guide>" if version == 2 and guide else ""}
</package>"""


def _nav(pages: list[Page]) -> str:
    toc = "".join(
        f'<li><a href="text/{p.name}">{escape(p.toc_label)}</a></li>' for p in pages if p.toc_label
    )
    marks = "".join(
        f'<li><a epub:type="{p.landmark}" href="text/{p.name}">x</a></li>'
        for p in pages
        if p.landmark
    )
    body = (
        f'<nav epub:type="toc"><h1>Contents</h1><ol>{toc}</ol></nav>'
        f'<nav epub:type="landmarks"><ol>{marks}</ol></nav>'
    )
    return PAGE.format(title="Contents", body_type="", body=body)


def _ncx(pages: list[Page]) -> str:
    points = "".join(
        f'<navPoint id="n{i}" playOrder="{i + 1}"><navLabel><text>{escape(p.toc_label)}</text>'
        f'</navLabel><content src="text/{p.name}"/></navPoint>'
        for i, p in enumerate(pages)
        if p.toc_label
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"'
        f' version="2005-1"><navMap>{points}</navMap></ncx>'
    )


def default_metadata(title: str = "The Glass Orchard", author: str = "Mira Vell") -> str:
    """Dublin Core title/creator/language lines for the OPF."""
    return (
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(author)}</dc:creator>"
        '<dc:language>en</dc:language><dc:identifier id="id">test-0001</dc:identifier>'
    )


def build_epub(
    path: Path,
    pages: list[Page] | None = None,
    *,
    version: int = 3,
    metadata: str | None = None,
    skip: tuple[str, ...] = (),
    spine_extra: str = "",
    opf_path: str = "OEBPS/content.opf",
) -> Path:
    """Write an EPUB to `path`; `skip` leaves out members (e.g. 'META-INF/container.xml')."""
    pages = standard_pages() if pages is None else pages
    members = {
        "META-INF/container.xml": CONTAINER.format(opf=opf_path),
        "OEBPS/content.opf": _opf(pages, version, metadata or default_metadata(), spine_extra),
        "OEBPS/images/cover.jpg": "\xff\xd8 not really a jpeg",
    }
    members["OEBPS/nav.xhtml" if version == 3 else "OEBPS/toc.ncx"] = (
        _nav(pages) if version == 3 else _ncx(pages)
    )
    for p in pages:
        body_type = f' epub:type="{p.epub_type}"' if p.epub_type else ""
        members[f"OEBPS/text/{p.name}"] = PAGE.format(title="x", body_type=body_type, body=p.body)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, text in members.items():
            if name not in skip:
                zf.writestr(name, text.encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
    return path
