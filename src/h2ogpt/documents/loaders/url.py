"""Web addresses: fetched once with a short timeout, then loaded by content type.

h2oGPT runs offline: an unreachable address (no network, refused, timed out) is a
:class:`DocumentLoadError` naming the URL, never a hang.
"""

from __future__ import annotations

import mimetypes
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from langchain_core.documents import Document

from h2ogpt import __version__
from h2ogpt.documents.loaders.core import load_source
from h2ogpt.documents.loaders.registry import Source, extension_of, loader_for
from h2ogpt.documents.types import DocumentLoadError

FETCH_TIMEOUT_S = 10.0
MAX_URL_BYTES = 100 * 1024**2
GENERIC_TYPES = {"application/octet-stream", "binary/octet-stream", "text/plain", "application/x-download"}
CONTENT_TYPES = {
    "text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf",
    "text/plain": ".txt", "text/markdown": ".md", "text/x-markdown": ".md", "text/csv": ".csv",
    "text/tab-separated-values": ".tsv", "application/json": ".json", "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl", "application/rtf": ".rtf", "text/rtf": ".rtf", "message/rfc822": ".eml",
    "application/zip": ".zip", "application/epub+zip": ".epub", "application/xml": ".xml", "text/xml": ".xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.ms-excel": ".xls", "application/vnd.oasis.opendocument.text": ".odt",
    "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tiff", "image/bmp": ".bmp",
    "image/gif": ".gif", "image/webp": ".webp",
}  # fmt: skip


def _extension(content_type: str, url: str) -> str:
    """The loader extension for a response: the URL's own when the type is generic."""
    from_url = extension_of(urlsplit(url).path)
    if content_type in GENERIC_TYPES and from_url and loader_for(from_url):
        return from_url
    by_type = CONTENT_TYPES.get(content_type) or mimetypes.guess_extension(content_type) or ""
    return by_type if loader_for(by_type) else from_url


def _fetch(url: str) -> tuple[bytes, str, str]:
    """(body, content type, final URL) of a GET, within the timeout and size limit."""
    request = urllib.request.Request(url, headers={"User-Agent": f"h2oGPT/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body = response.read(MAX_URL_BYTES + 1)
            content_type = response.headers.get_content_type()
            final_url = response.geturl()
    except urllib.error.HTTPError as exc:
        raise DocumentLoadError(url, f"the server answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DocumentLoadError(url, f"could not be fetched: offline or unreachable ({reason})") from exc
    if len(body) > MAX_URL_BYTES:
        raise DocumentLoadError(url, f"larger than {MAX_URL_BYTES // 1024**2} MB, not loaded")
    return body, content_type, final_url


def load_url(url: str) -> list[Document]:
    """Fetch an http(s) URL and load it like a file of its content type (``source`` = the URL)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DocumentLoadError(url, "only http:// and https:// addresses can be loaded")
    body, content_type, final_url = _fetch(url)
    ext = _extension(content_type, final_url)
    return load_source(Source(name=url, data=body, ext=ext))
