"""Document loaders: files, folders, archives and URLs -> langchain ``Document`` pieces.

Public API::

    load_file(path, password=None) -> list[Document]
    load_paths(paths, passwords=None) -> (documents, failures)
    load_url(url) -> list[Document]
    supported_extensions() -> frozenset of extensions with a loader (plug-ins included)

Each format family is one module with a ``register(add)`` function; ``builtin`` registers
them as a plug-in (loaders are plug-ins: the ``register_loaders`` hook of h2ogpt.plugins).
See ``docs/documents.md`` for the formats.
"""

from __future__ import annotations

from h2ogpt.documents.loaders.core import load_source
from h2ogpt.documents.loaders.paths import load_file, load_paths
from h2ogpt.documents.loaders.registry import Loader, Source, supported_extensions
from h2ogpt.documents.loaders.url import load_url
from h2ogpt.documents.types import DocumentLoadError, LoadFailure

__all__ = [
    "DocumentLoadError",
    "LoadFailure",
    "Loader",
    "Source",
    "load_file",
    "load_paths",
    "load_source",
    "load_url",
    "supported_extensions",
]
