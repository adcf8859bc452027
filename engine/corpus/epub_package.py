"""The EPUB package: container.xml -> OPF (metadata, manifest, spine, guide) -> nav/NCX."""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

from engine.corpus.epub_pages import parse_nav
from engine.corpus.gutenberg import decode_bytes
from engine.corpus.limits import BoundedZip, CorpusLimits, open_zip
from engine.errors import CorpusError

_CONTAINER = "META-INF/container.xml"
_XHTML_TYPES = {"application/xhtml+xml", "text/html", "application/xml", "text/xml"}
_FIX = "Re-export the book as EPUB (for example with Calibre) or give a .txt file instead."


@dataclass
class Package:
    """What the reader needs from an EPUB: metadata, spine pages and page kinds/labels."""

    zf: BoundedZip
    path: Path
    title: str | None
    author: str | None
    series_order: int | None
    spine: list[str]
    nav_hrefs: set[str] = field(default_factory=set)
    kinds: dict[str, set[str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    spine_repeats: int = 0  # spine entries naming a page already in the reading order

    def read_text(self, href: str) -> str:
        """A page of the book as text (UTF-8 expected, as EPUB requires)."""
        return decode_bytes(_read(self.zf, href, self.path), self.path)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _read(zf: BoundedZip, name: str, path: Path) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise CorpusError(f"{path}: broken EPUB: {name} is listed but missing. {_FIX}") from None
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, ValueError, NotImplementedError,
            zlib.error) as exc:
        raise CorpusError(f"{path}: broken EPUB: cannot read {name} ({exc}). {_FIX}") from None


def _xml(zf: BoundedZip, name: str, path: Path) -> Element:
    try:
        return ElementTree.fromstring(_read(zf, name, path))
    except ElementTree.ParseError as exc:
        raise CorpusError(f"{path}: broken EPUB: {name} is not valid XML ({exc}). {_FIX}") from None


def _opf_path(zf: BoundedZip, path: Path) -> str:
    if _CONTAINER not in zf.names:
        raise CorpusError(f"{path}: not a valid EPUB: it lacks {_CONTAINER}. {_FIX}")
    rootfiles = _children(_xml(zf, _CONTAINER, path), "rootfile")
    name = rootfiles[0].get("full-path") if rootfiles else None
    if not name:
        raise CorpusError(f"{path}: not a valid EPUB: {_CONTAINER} names no OPF file. {_FIX}")
    if name not in zf.names:
        raise CorpusError(
            f"{path}: not a valid EPUB: its package file {name} (named in {_CONTAINER}) "
            f"is missing. {_FIX}"
        )
    return name


def _resolve(base: str, href: str) -> str:
    """A manifest/nav href relative to `base`'s folder -> a zip member name (no fragment)."""
    href = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), href))


def read_package(path: Path, data: bytes, limits: CorpusLimits | None = None) -> Package:
    """Open the zip, read container.xml and the OPF; CorpusError when any part is missing."""
    limits = limits or CorpusLimits()
    zf = BoundedZip(open_zip(path, data, limits, _FIX), path, limits)
    opf_name = _opf_path(zf, path)
    opf = _xml(zf, opf_name, path)
    manifest = _manifest(opf, opf_name)
    spine_el = next(iter(_children(opf, "spine")), None)
    spine, repeats = _spine(spine_el, manifest, zf, path, limits)
    package = Package(
        zf=zf,
        path=path,
        title=_dc(opf, "title"),
        author=_author(opf),
        series_order=_series_order(opf),
        spine=spine,
        spine_repeats=repeats,
    )
    package.nav_hrefs = {h for h, (_, props) in manifest.by_href.items() if "nav" in props}
    _read_guide(opf, opf_name, package)
    _read_nav(manifest, package)
    _read_ncx(spine_el, manifest, package)
    return package


@dataclass
class _Manifest:
    by_id: dict[str, tuple[str, str]]  # id -> (zip name, media type)
    by_href: dict[str, tuple[str, set[str]]]  # zip name -> (media type, properties)


def _manifest(opf: Element, opf_name: str) -> _Manifest:
    manifest = _Manifest({}, {})
    for item in _children(opf, "item"):
        href, ident = item.get("href"), item.get("id")
        if not href or not ident:
            continue
        name = _resolve(opf_name, href)
        media = (item.get("media-type") or "").lower()
        manifest.by_id[ident] = (name, media)
        manifest.by_href[name] = (media, set((item.get("properties") or "").split()))
    return manifest


def _spine(spine_el: Element | None, manifest: _Manifest, zf: BoundedZip, path: Path,
           limits: CorpusLimits) -> tuple[list[str], int]:
    """The reading order's XHTML pages, each once, and how many repeated entries were dropped."""
    refs = _children(spine_el, "itemref") if spine_el is not None else []
    if not refs:
        raise CorpusError(f"{path}: broken EPUB: the OPF has no spine (reading order). {_FIX}")
    if len(refs) > limits.max_spine_pages:
        raise limits.refuse(path, f"the EPUB's reading order lists {len(refs):,} pages",
                            f"{limits.max_spine_pages:,} ([ingest] max_spine_pages)")
    names = zf.names
    pages: dict[str, None] = {}  # ordered set: EPUB forbids repeats, hostile files use them
    repeats = 0
    for ref in refs:
        idref = ref.get("idref") or ""
        if idref not in manifest.by_id:
            raise CorpusError(
                f"{path}: broken EPUB: the spine names {idref!r}, which is not in the "
                f"manifest. {_FIX}"
            )
        name, media = manifest.by_id[idref]
        if name not in names:
            raise CorpusError(f"{path}: broken EPUB: spine page {name} is missing. {_FIX}")
        if media in _XHTML_TYPES and ref.get("linear", "yes") != "no":
            repeats += name in pages
            pages.setdefault(name)
    return list(pages), repeats


def _dc(opf: Element, name: str) -> str | None:
    for element in _children(opf, name):
        if element.text and element.text.strip():
            return " ".join(element.text.split())
    return None


def _author(opf: Element) -> str | None:
    creators = _children(opf, "creator")
    for creator in creators:
        role = next((v for k, v in creator.attrib.items() if _local(k) == "role"), None)
        if role == "aut" and creator.text and creator.text.strip():
            return str(creator.text.strip())
    return _dc(opf, "creator")


def _series_order(opf: Element) -> int | None:
    metas = _children(opf, "meta")
    for meta in metas:
        if meta.get("name") == "calibre:series_index":
            return _as_int(meta.get("content"))
    collections = {f"#{m.get('id')}" for m in metas if m.get("property") == "belongs-to-collection"}
    for meta in metas:
        if meta.get("property") == "group-position" and meta.get("refines") in collections:
            return _as_int(meta.text)
    return None


def _as_int(value: str | None) -> int | None:
    match = re.match(r"\s*(\d+)(?:\.0*)?\s*$", value or "")
    return int(match.group(1)) if match else None


def _add_kind(package: Package, href: str, kinds: str) -> None:
    package.kinds.setdefault(href, set()).update(
        k.lower().removeprefix("doc-") for k in kinds.split()
    )


def _read_guide(opf: Element, opf_name: str, package: Package) -> None:
    for ref in _children(opf, "reference"):
        href, kind = ref.get("href"), ref.get("type")
        if href and kind:
            _add_kind(package, _resolve(opf_name, href), kind)


def _read_nav(manifest: _Manifest, package: Package) -> None:
    for nav_name in package.nav_hrefs:
        for link in parse_nav(package.read_text(nav_name)):
            href = _resolve(nav_name, link.href)
            if "landmarks" in link.nav and link.kind:
                _add_kind(package, href, link.kind)
            elif "toc" in link.nav and link.label:
                package.labels.setdefault(href, link.label)


def _read_ncx(spine_el: Element | None, manifest: _Manifest, package: Package) -> None:
    ncx_id = spine_el.get("toc") if spine_el is not None else None
    if not ncx_id or ncx_id not in manifest.by_id or package.labels:
        return
    ncx_name = manifest.by_id[ncx_id][0]
    if ncx_name not in package.zf.names:
        return
    for point in _children(_xml(package.zf, ncx_name, package.path), "navPoint"):
        texts = [t.text for t in _children(point, "text") if t.text]
        content = next(iter(_children(point, "content")), None)
        src = content.get("src") if content is not None else None
        if texts and src:
            package.labels.setdefault(_resolve(ncx_name, src), texts[0].strip())
