"""Check that a file is a GGUF model before llama.cpp sees it, with one clear line if not."""

from __future__ import annotations

import os
import struct

from h2ogpt.errors import ConfigError, ModelNotFoundError

GGUF_MAGIC = b"GGUF"
HEADER_BYTES = 24  # magic, version (u32), tensor count (u64), metadata count (u64)


def check_gguf_file(path: str) -> None:
    """Raise ModelNotFoundError (no such file) or ConfigError (not a usable GGUF file)."""
    if not os.path.exists(path):
        raise ModelNotFoundError(f"the model file {path} does not exist; give the path of a .gguf file")
    if not os.path.isfile(path):
        raise ConfigError(f"the model path {path} is not a file; give the path of a .gguf file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(HEADER_BYTES)
    except OSError as exc:
        raise ConfigError(f"the model file {path} cannot be read: {exc.strerror or exc}") from None
    if not header:
        raise ConfigError(f"the model file {path} is empty (0 bytes); download or copy it again")
    if header[:4] != GGUF_MAGIC:
        raise ConfigError(
            f"the model file {path} is not a GGUF model (it does not start with the GGUF magic); "
            "give a .gguf file made for llama.cpp"
        )
    if len(header) < HEADER_BYTES:
        raise ConfigError(f"the model file {path} is truncated (only {len(header)} bytes); download it again")
    (version,) = struct.unpack_from("<I", header, 4)
    if version not in (2, 3):
        raise ConfigError(f"the model file {path} has GGUF version {version}, which llama.cpp cannot read")


def load_failure(path: str, reason: str) -> ConfigError:
    """The error for a GGUF file that llama.cpp refused (truncated, corrupt, unsupported)."""
    return ConfigError(
        f"the model file {path} could not be loaded by llama.cpp: {reason}; "
        "it may be truncated or corrupt (download it again) or of an unsupported architecture"
    )
