"""EPUB (2 and 3) with zipfile + BeautifulSoup: the spine's chapters in reading order."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET

from langchain_core.documents import Document

from h2ogpt.documents.loaders.archive import open_zip, read_member
from h2ogpt.documents.loaders.common import make_doc
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.loaders.web import html_to_text
from h2ogpt.documents.types import DocumentLoadError

_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _package_path(archive, source: Source) -> str:
    try:
        container = ET.fromstring(read_member(archive, archive.getinfo("META-INF/container.xml")))
    except KeyError as exc:
        raise DocumentLoadError(source.name, "not an EPUB (no META-INF/container.xml)") from exc
    rootfile = container.find(".//c:rootfile", _NS)
    if rootfile is None or not rootfile.get("full-path"):
        raise DocumentLoadError(source.name, "damaged EPUB: container.xml names no package file")
    return rootfile.get("full-path", "")


def _spine(package: ET.Element, base: str) -> list[str]:
    """Paths of the spine's documents, in reading order."""
    hrefs = {
        item.get("id"): item.get("href", "")
        for item in package.iterfind("opf:manifest/opf:item", _NS)
        if "html" in item.get("media-type", "")
    }
    paths = []
    for ref in package.iterfind("opf:spine/opf:itemref", _NS):
        href = hrefs.get(ref.get("idref"))
        if href:
            paths.append(posixpath.normpath(posixpath.join(base, href.split("#")[0])))
    return paths


def _refuse_drm(archive, chapters: list[str], source: Source) -> None:
    """Raise when the chapters themselves are encrypted (DRM; obfuscated fonts are fine)."""
    try:
        listing = read_member(archive, archive.getinfo("META-INF/encryption.xml")).decode("utf-8", "replace")
    except KeyError:
        return
    if any(posixpath.basename(path) in listing for path in chapters):
        raise DocumentLoadError(source.name, "DRM-protected EPUB: its chapters are encrypted")


def load_epub(source: Source) -> list[Document]:
    """One document per chapter (``section`` = its place in the spine); title from dc:title."""
    with open_zip(source) as archive:
        package_path = _package_path(archive, source)
        package = ET.fromstring(read_member(archive, archive.getinfo(package_path)))
        title_tag = package.find("opf:metadata/dc:title", _NS)
        title = (title_tag.text or "").strip() if title_tag is not None else ""
        chapters = _spine(package, posixpath.dirname(package_path))
        _refuse_drm(archive, chapters, source)
        docs = []
        for number, path in enumerate(chapters, start=1):
            try:
                markup = read_member(archive, archive.getinfo(path))
            except KeyError:
                continue  # a spine entry missing from the archive
            chapter_title, text = html_to_text(markup)
            extra = {"chapter": chapter_title} if chapter_title else {}
            docs.append(make_doc(text, source, title or None, section=number, **extra))
    return docs


def register(add: RegisterHook) -> None:
    """Register the EPUB loader."""
    add(".epub", load_epub)
