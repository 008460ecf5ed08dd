"""Document loaders: files, folders, archives and URLs -> langchain ``Document`` pieces.

Public API::

    load_file(path, password=None) -> list[Document]
    load_paths(paths, passwords=None) -> (documents, failures)
    load_url(url) -> list[Document]
    SUPPORTED_EXTENSIONS

Each format family is one module with a ``register(add)`` function; the built-ins are
registered below through :func:`register_loader`, the same hook a plugin uses (directly,
or from an ``h2ogpt.loaders`` entry point). See ``docs/documents.md`` for the formats.
"""

from __future__ import annotations

from h2ogpt.documents.loaders import (
    archive,
    data,
    ebook,
    images,
    mail,
    opendocument,
    pdf,
    presentation,
    rtf,
    spreadsheet,
    text,
    web,
    word,
)
from h2ogpt.documents.loaders.core import load_source
from h2ogpt.documents.loaders.paths import load_file, load_paths
from h2ogpt.documents.loaders.registry import Loader, Source, register_loader, supported_extensions
from h2ogpt.documents.loaders.url import load_url
from h2ogpt.documents.types import DocumentLoadError, LoadFailure

BUILTIN_MODULES = (
    text,
    pdf,
    word,
    presentation,
    spreadsheet,
    web,
    data,
    ebook,
    opendocument,
    rtf,
    mail,
    images,
    archive,
)

for _module in BUILTIN_MODULES:
    _module.register(register_loader)

SUPPORTED_EXTENSIONS: frozenset[str] = supported_extensions()
"""Extensions (lower case, with the dot) that have a loader: the built-ins and installed plugins."""

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "DocumentLoadError",
    "LoadFailure",
    "Loader",
    "Source",
    "load_file",
    "load_paths",
    "load_source",
    "load_url",
    "register_loader",
    "supported_extensions",
]
