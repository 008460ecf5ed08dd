"""A preset's GGUF file on this machine: found inside an installed package, or joined once
from chunk packages into ``<data_dir>/models/`` and checked against the pinned SHA-256.

Chunk packages are located with ``importlib.util.find_spec`` and read as data: their code is
never run. Joining writes a temporary file next to the target and renames it only after the
size and digest match, so nothing half-written is ever taken for the model; a stamp beside
the file records the verified size and time, so later starts skip the hashing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from h2ogpt.backends.presets import ModelPreset
from h2ogpt.errors import ModelNotFoundError

log = logging.getLogger(__name__)

CHUNK = 8 << 20


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _part_paths(preset: ModelPreset) -> list[Path]:
    """The preset's files in order; ModelNotFoundError naming what is missing and what to do."""
    source = preset.source
    paths, missing = [], []
    for index in range(1, preset.parts + 1):
        package = source["package"].format(index=index)
        folder = _package_dir(package)
        path = folder / source["path"].format(index=index) if folder else None
        if path is None or not path.is_file():
            missing.append(source.get("distribution", package).format(index=index))
        else:
            paths.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelNotFoundError(
            f"--base_model={preset.name}: the model pack is not installed (missing {shown}); "
            f"{preset.install_hint()}"
        )
    return paths


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _verified(target: Path, preset: ModelPreset) -> bool:
    """The file was checked before and has not changed since (size and modification time)."""
    try:
        stamp = json.loads(_stamp(target).read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": preset.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _join(parts: list[Path], target: Path, preset: ModelPreset) -> None:
    """Concatenate ``parts`` into ``target`` if (and only if) the digest is the pinned one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    digest = hashlib.sha256()
    handle, staging = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as piece:
                    while chunk := piece.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        size = os.path.getsize(staging)
        if (preset.size and size != preset.size) or digest.hexdigest() != preset.sha256:
            raise ModelNotFoundError(
                f"--base_model={preset.name}: the installed pack joins into a file of {size:,} bytes with "
                f"SHA-256 {digest.hexdigest()}, not the pinned {preset.size:,} bytes {preset.sha256}; "
                f"refusing it. Reinstall the pack: {preset.install_hint()}"
            )
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    stat = target.stat()
    _stamp(target).write_text(
        json.dumps({"sha256": preset.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    )
    log.info("Joined %s (%d parts, %.1f s): %s", preset.name, len(parts), time.monotonic() - started, target)


def preset_file(preset: ModelPreset, data_dir: Path) -> Path:
    """The preset's GGUF file, joined and verified on first use; raises ModelNotFoundError."""
    if preset.source.get("kind") == "package_file":
        folder = _package_dir(preset.source["package"])
        path = folder / preset.source["path"] if folder else None
        if path is None or not path.is_file():
            raise ModelNotFoundError(
                f"--base_model={preset.name}: {preset.file} is not installed; {preset.install_hint()}"
            )
        return path
    target = Path(data_dir) / "models" / preset.file
    if target.is_file() and _verified(target, preset):
        return target
    _join(_part_paths(preset), target, preset)
    return target
