"""Model presets: the catalogue in ``models/*.toml`` (data, no code).

A preset names a model, where its GGUF file comes from (a file inside an installed package,
or chunk packages joined once, see ``model_pack``), its SHA-256, prompt format, context length
and recommended sampling. ``--base_model=<preset name>`` uses one. Reading the catalogue
imports nothing heavy.
"""

from __future__ import annotations

import functools
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h2ogpt.errors import ConfigError

MODELS_ENV = "H2OGPT_MODELS_DIR"  # another catalogue folder (tests, operators)


@dataclass(frozen=True)
class ModelPreset:
    name: str
    display_name: str
    file: str  # the GGUF file's name once in place
    source: dict[str, Any]  # kind "package_file" (package, path) or "parts" (package, path, count)
    license: str = ""
    upstream: str = ""
    quantization: str = ""
    size: int = 0  # bytes; 0: not pinned
    sha256: str = ""  # pinned digest; "" for a file inside a package (pip verified it)
    context_length: int = 0
    prompt_type: str = ""
    sampling: dict[str, Any] = field(default_factory=dict)

    @property
    def parts(self) -> int:
        return int(self.source.get("count", 1)) if self.source.get("kind") == "parts" else 1

    def install_hint(self) -> str:
        if self.source.get("kind") == "parts":
            return "run `make models` (it installs the model pack)"
        return f"reinstall the package {self.source.get('package', '?')} (`make install`)"


def catalogue_dirs() -> list[Path]:
    """Where presets are read: $H2OGPT_MODELS_DIR, the checkout's models/, the installed copy."""
    dirs = [Path(os.environ[MODELS_ENV])] if os.environ.get(MODELS_ENV) else []
    dirs.append(Path(__file__).resolve().parents[3] / "models")  # a checkout (or editable install)
    dirs.append(Path(sys.prefix) / "share" / "h2ogpt" / "models")  # setup.py's data_files
    return [d for d in dirs if d.is_dir()]


def _read(path: Path) -> ModelPreset:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return ModelPreset(**data)
    except (tomllib.TOMLDecodeError, TypeError) as exc:
        raise ConfigError(f"model preset {path}: not a valid preset ({exc})") from None


@functools.cache
def _catalogue(dirs: tuple[Path, ...]) -> dict[str, ModelPreset]:
    found: dict[str, ModelPreset] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.toml")):
            preset = _read(path)
            found.setdefault(preset.name, preset)  # an earlier folder wins
    return found


def presets() -> dict[str, ModelPreset]:
    """Every preset by name."""
    return _catalogue(tuple(catalogue_dirs()))


def find_preset(name: str) -> ModelPreset | None:
    return presets().get(name.strip().lower())


SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens")


def with_preset_defaults(settings: Any) -> Any:
    """``settings`` with a preset's recommended sampling and prompt format where the user set
    none (flags and H2OGPT_* variables always win); unchanged for anything but a preset."""
    preset = (
        find_preset(settings.base_model) if settings.base_model and not settings.inference_server else None
    )
    if preset is None:
        return settings
    chosen = settings.model_fields_set
    updates = {k: v for k, v in preset.sampling.items() if k in SAMPLING_FIELDS and k not in chosen}
    if preset.prompt_type and "prompt_type" not in chosen:
        updates["prompt_type"] = preset.prompt_type
    return settings.model_copy(update=updates) if updates else settings
