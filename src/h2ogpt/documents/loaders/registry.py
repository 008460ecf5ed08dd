"""The loader registry: file extension -> loader function.

Loaders are plug-ins (``h2ogpt.plugins.loaders``, the ``register_loaders`` hook); the
built-ins register through ``loaders.builtin`` like any plug-in, and code may add one with
``h2ogpt.plugins.add_loader(extensions, loader)``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from langchain_core.documents import Document

from h2ogpt import plugins
from h2ogpt.documents.types import LoadFailure

log = logging.getLogger(__name__)


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
"""What a ``register_loaders(register)`` hook (or a format module's ``register(add)``) receives."""


def extension_of(name: str) -> str:
    """Lower-case extension with its dot (``.tar.gz`` is reported as ``.gz``)."""
    return PurePosixPath(name.replace("\\", "/")).suffix.lower()


def loader_for(ext: str) -> Loader | None:
    """The loader registered for an extension, if any."""
    return plugins.loaders.find(plugins.normalize_extension(ext)) if ext else None


def supported_extensions() -> frozenset[str]:
    """Every extension with a loader now, plugins included."""
    return frozenset(plugins.loaders.names())
