"""XHTML pages of an EPUB -> text blocks (headings and paragraphs), and nav-page links."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

_BLOCK_TAGS = {
    "p", "div", "li", "blockquote", "pre", "td", "th", "dt", "dd", "section", "article",
    "header", "footer", "figcaption", "tr", "table", "ul", "ol", "body", "hr", "h1", "h2",
    "h3", "h4", "h5", "h6",
}  # fmt: skip
_SKIP_TAGS = {"head", "script", "style", "nav", "svg", "math", "rt", "rp"}
_VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source"}
_SKIP_TYPES = {"pagebreak", "footnote", "endnote", "rearnote", "note", "noteref"}
_SKIP_IDS = ("pg-header", "pg-footer", "pg-machine-header", "pg-start-separator",
             "pg-end-separator")  # fmt: skip


@dataclass
class Block:
    """A run of text: `level` 1-6 for a heading, 0 for a paragraph."""

    level: int
    text: str


@dataclass
class Page:
    """One XHTML page: its blocks and the semantic types its markup declares."""

    blocks: list[Block] = field(default_factory=list)
    types: set[str] = field(default_factory=set)

    def words(self) -> int:
        """How many words the page holds."""
        return sum(len(b.text.split()) for b in self.blocks)

    def headings(self) -> list[str]:
        """Texts of the page's headings, in order."""
        return [b.text for b in self.blocks if b.level]


def _types(attrs: dict[str, str | None]) -> set[str]:
    raw = f"{attrs.get('epub:type') or ''} {attrs.get('role') or ''}"
    return {t.removeprefix("doc-").lower() for t in raw.split()}


def _skipped(attrs: dict[str, str | None], types: set[str]) -> bool:
    ident = f"{attrs.get('id') or ''} {attrs.get('class') or ''}"
    return bool(types & _SKIP_TYPES) or any(s in ident for s in _SKIP_IDS)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._stack: list[tuple[str, bool]] = []  # (tag, skipping this subtree)
        self._buffer: list[str] = []
        self._level = 0
        self._heading_seq = 0
        self._last_seq = -1

    def _skipping(self) -> bool:
        return any(skip for _, skip in self._stack)

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        types = _types(attrs)
        if tag in ("body", "section", "article") or (tag == "div" and len(self._stack) <= 3):
            self.page.types |= types - _SKIP_TYPES
        if tag in _BLOCK_TAGS or tag == "br":
            self._flush()
        if tag in _VOID_TAGS:
            return
        self._stack.append((tag, tag in _SKIP_TAGS or _skipped(attrs, types)))
        if tag[:1] == "h" and tag[1:].isdigit():
            self._level = int(tag[1:])
            self._heading_seq += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS or tag == "br":
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break
        if tag[:1] == "h" and tag[1:].isdigit():
            self._level = 0

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self._buffer.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        if not text:
            return
        blocks = self.page.blocks
        if self._level and blocks and self._last_seq == self._heading_seq:
            blocks[-1].text += " " + text  # a <br/> inside one heading
        else:
            blocks.append(Block(self._level, text))
        self._last_seq = self._heading_seq if self._level else -1

    def close(self) -> None:
        super().close()
        self._flush()


def parse_page(markup: str) -> Page:
    """Blocks of text and declared types of one XHTML page."""
    parser = _PageParser()
    parser.feed(markup)
    parser.close()
    return parser.page


@dataclass
class NavLink:
    """A link in an EPUB 3 nav page: which nav (toc/landmarks), its href, type and label."""

    nav: str
    href: str
    kind: str
    label: str


class _NavParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[NavLink] = []
        self._nav = ""
        self._link: NavLink | None = None

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "nav":
            self._nav = " ".join(sorted(_types(attrs))) or "toc"
        elif tag == "a" and self._nav and attrs.get("href"):
            kind = " ".join(sorted(_types(attrs)))
            self._link = NavLink(self._nav, attrs["href"] or "", kind, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            self._link.label = " ".join(self._link.label.split())
            self.links.append(self._link)
            self._link = None
        elif tag == "nav":
            self._nav = ""

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.label += data


def parse_nav(markup: str) -> list[NavLink]:
    """All links of an EPUB 3 nav page (toc, landmarks, page-list)."""
    parser = _NavParser()
    parser.feed(markup)
    parser.close()
    return parser.links
