"""The loader registry: file extension -> loader function.

Built-in loaders register themselves through :func:`register_loader`, the same hook a
third-party package uses (from its own code, or through an ``h2ogpt.loaders`` entry point
naming a ``register(register_loader)`` function), in the style of simonw/llm's plugins.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from langchain_core.documents import Document

from h2ogpt.documents.types import LoadFailure

log = logging.getLogger(__name__)

PLUGIN_GROUP = "h2ogpt.loaders"


@dataclass(frozen=True)
class Source:
    """One input to load: its name for metadata, and the file or bytes behind it.

    ``name`` becomes ``metadata["source"]``; ``ext`` (lower case, with the dot) picks the
    loader. Nested inputs (ZIP members, e-mail attachments) carry ``data`` and ``depth``.
    ``failures`` collects members of a container that failed alone.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None
    ext: str = ""
    password: str | None = None
    depth: int = 0
    failures: list[LoadFailure] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ext:
            object.__setattr__(self, "ext", extension_of(self.name))

    @property
    def filename(self) -> str:
        """The last component of the name (``report.pdf``)."""
        return PurePosixPath(self.name.replace("\\", "/")).name or self.name

    def read_bytes(self) -> bytes:
        """All the bytes of the input."""
        if self.data is not None:
            return self.data
        assert self.path is not None, "a Source needs a path or data"
        return self.path.read_bytes()

    def head(self, size: int = 8) -> bytes:
        """The first bytes of the input (to recognize a format)."""
        if self.data is not None:
            return self.data[:size]
        assert self.path is not None, "a Source needs a path or data"
        with self.path.open("rb") as file:
            return file.read(size)

    def as_file(self) -> Path | BinaryIO:
        """The file's path, or an in-memory file for nested inputs: what parsers accept."""
        return self.path if self.path is not None else io.BytesIO(self.read_bytes())

    def child(self, name: str, data: bytes, **changes: object) -> Source:
        """A nested input (archive member, attachment) one level deeper."""
        return replace(self, name=name, path=None, data=data, ext="", depth=self.depth + 1, **changes)


Loader = Callable[[Source], list[Document]]
RegisterHook = Callable[[Iterable[str] | str, Loader], None]
"""What a ``register(add)`` function of a loader module or plugin receives."""

_LOADERS: dict[str, Loader] = {}
_plugins_loaded = False


def extension_of(name: str) -> str:
    """Lower-case extension with its dot (``.tar.gz`` is reported as ``.gz``)."""
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def _normalize(ext: str) -> str:
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else f".{ext}"


def register_loader(extensions: Iterable[str] | str, loader: Loader) -> None:
    """Make ``loader`` handle files with these extensions (a later registration wins)."""
    for ext in [extensions] if isinstance(extensions, str) else extensions:
        _LOADERS[_normalize(ext)] = loader


def _load_plugins() -> None:
    """Call each installed ``h2ogpt.loaders`` entry point once with :func:`register_loader`."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()(register_loader)
        except Exception:  # a broken plugin must not stop the built-ins
            log.exception("loader plugin %s failed to register", entry.name)


def loader_for(ext: str) -> Loader | None:
    """The loader registered for an extension, if any."""
    _load_plugins()
    return _LOADERS.get(_normalize(ext)) if ext else None


def supported_extensions() -> frozenset[str]:
    """Every extension with a loader now, plugins included."""
    _load_plugins()
    return frozenset(_LOADERS)
