"""Files and folders: ``load_file`` for one file, ``load_paths`` for a batch that never stops
on a bad file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from langchain_core.documents import Document

from h2ogpt.documents.loaders.core import load_source
from h2ogpt.documents.loaders.registry import Source
from h2ogpt.documents.types import DocumentLoadError, LoadFailure

log = logging.getLogger(__name__)


def _check_file(name: str, path: Path) -> None:
    if not path.exists():
        raise DocumentLoadError(name, "file not found")
    if path.is_dir():
        raise DocumentLoadError(name, "is a folder: load folders with load_paths([...])")
    if not os.access(path, os.R_OK):
        raise DocumentLoadError(name, "permission denied: the file cannot be read")


def _load(name: str, path: Path, password: str | None, failures: list[LoadFailure] | None) -> list[Document]:
    _check_file(name, path)
    return load_source(Source(name=name, path=path, password=password, failures=failures))


def load_file(path: str | Path, password: str | None = None) -> list[Document]:
    """Load one file into Documents (``metadata["source"]`` is ``path`` as given).

    Raises :class:`DocumentLoadError` naming the file and the reason when it is missing,
    unsupported, encrypted without (or with a wrong) ``password``, or damaged.
    """
    return _load(str(path), Path(path), password, None)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _walk(folder: str) -> Iterator[str]:
    """Files under a folder, recursively and sorted, skipping hidden files and folders."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(files):
            if not _hidden(name):
                yield os.path.join(root, name)


def _password(passwords: Mapping[str, str] | None, name: str) -> str | None:
    """The password for a file, keyed by its path as given, its absolute path or its file name."""
    if not passwords:
        return None
    path = Path(name)
    for key in (name, str(path.resolve()), path.name):
        if key in passwords:
            return passwords[key]
    return None


def _expand(paths: Iterable[str | Path], failures: list[LoadFailure]) -> Iterator[str]:
    """Each file to load: given files as they are, folders walked; missing paths are failures."""
    for given in paths:
        name = str(given)
        if os.path.isdir(name):
            yield from _walk(name)
        elif os.path.exists(name):
            yield name
        else:
            failures.append(LoadFailure(name, "file not found"))


def load_paths(
    paths: Iterable[str | Path], passwords: Mapping[str, str] | None = None
) -> tuple[list[Document], list[LoadFailure]]:
    """Load files and folders (walked recursively, hidden entries skipped).

    One bad file fails alone: it is reported in the returned failures (so are members of
    archives and attachments that failed) and every other file is loaded.
    """
    docs: list[Document] = []
    failures: list[LoadFailure] = []
    seen: set[Path] = set()
    for name in _expand(paths, failures):
        real = Path(name).resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            docs.extend(_load(name, Path(name), _password(passwords, name), failures))
        except DocumentLoadError as exc:
            failures.append(LoadFailure(exc.source, exc.reason))
    log.info("loaded %d documents; %d files left out", len(docs), len(failures))
    for failure in failures:
        log.warning("left out %s: %s", failure.source, failure.reason)
    return docs, failures
