"""ZIP archives: every member loaded through the registry, recursively, with zip-bomb limits.

Members are named ``archive.zip/inner/path`` in ``source``. A member that fails is left
out alone (recorded as a failure); hidden members and folders are skipped. Limits on the
member count, each member's size, the total size, the compression ratio and the nesting
depth stop archives crafted to exhaust memory or disk.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import PurePosixPath

from langchain_core.documents import Document

from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError, LoadFailure

log = logging.getLogger(__name__)

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 200 * 1024**2
MAX_TOTAL_BYTES = 1024**3
MAX_RATIO = 200  # uncompressed / compressed size of one large member
MAX_DEPTH = 4  # archives inside archives


def open_zip(source: Source) -> zipfile.ZipFile:
    """A ZipFile whose declared sizes are within the limits."""
    try:
        archive = zipfile.ZipFile(source.as_file())
    except zipfile.BadZipFile as exc:
        raise DocumentLoadError(source.name, f"damaged or not a ZIP container ({exc})") from exc
    infos = archive.infolist()
    total = sum(i.file_size for i in infos)
    if len(infos) > MAX_MEMBERS or total > MAX_TOTAL_BYTES:
        archive.close()
        raise DocumentLoadError(
            source.name,
            f"archive too large to unpack safely ({len(infos)} members, {total} bytes; "
            f"limits {MAX_MEMBERS} members, {MAX_TOTAL_BYTES} bytes)",
        )
    return archive


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, password: str | None = None) -> bytes:
    """A member's bytes, refusing members that are too big or too compressed (zip bombs)."""
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_MEMBER_BYTES or (info.file_size > 1024**2 and ratio > MAX_RATIO):
        raise ValueError(f"member too large or too compressed ({info.file_size} bytes, ratio {ratio:.0f})")
    pwd = password.encode() if password else None
    with archive.open(info, pwd=pwd) as member:
        data = member.read(MAX_MEMBER_BYTES + 1)  # the declared size may lie
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError("member larger than declared, refused")
    return data


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _load_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: Source) -> list[Document]:
    from h2ogpt.documents.loaders.core import load_source

    data = read_member(archive, info, source.password)
    return load_source(source.child(f"{source.name}/{info.filename}", data))


def load_zip(source: Source) -> list[Document]:
    """Every supported member of a ZIP archive; one bad member fails alone."""
    if source.depth >= MAX_DEPTH:
        raise DocumentLoadError(source.name, f"archives nested deeper than {MAX_DEPTH} levels are refused")
    docs: list[Document] = []
    failed = 0
    with open_zip(source) as archive:
        for info in archive.infolist():
            if info.is_dir() or _hidden(info.filename):
                continue
            try:
                docs.extend(_load_member(archive, info, source))
            except (DocumentLoadError, ValueError, RuntimeError, zipfile.BadZipFile, OSError) as exc:
                failed += 1
                _record(source, info, exc)
    if not docs:
        raise DocumentLoadError(source.name, f"no member of the archive could be loaded ({failed} left out)")
    return docs


def _record(source: Source, info: zipfile.ZipInfo, exc: Exception) -> None:
    """Log a member left out, and add it to the batch's failures when there is a list."""
    if isinstance(exc, DocumentLoadError):
        name, reason = exc.source, exc.reason
    else:
        name, reason = f"{source.name}/{info.filename}", f"{type(exc).__name__}: {exc}"
    log.warning("left out %s: %s", name, reason)
    if source.failures is not None:
        source.failures.append(LoadFailure(name, reason))


def register(add: RegisterHook) -> None:
    """Register the ZIP loader."""
    add(".zip", load_zip)
