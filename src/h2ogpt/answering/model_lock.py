"""``--model_lock``: several models answering side by side (h2oGPT's JSON list of models).

Each entry is a JSON object of model settings; what it leaves out comes from the other
flags. Entries that name the same model share one loaded backend.
"""

from __future__ import annotations

import json

from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings
from h2ogpt.vision.server import standalone_flag

MAX_MODELS = 4
MODEL_KEYS = frozenset(
    {
        "base_model",
        "engine",
        "inference_server",
        "prompt_type",
        "lora_weights",
        "max_seq_len",
        "load_half",
        "name",
    }
)


def locked_models(settings: Settings) -> list[tuple[str | None, Settings]]:
    """The models of ``--model_lock`` as (display name or None, Settings); one entry, the
    Settings themselves, when it is empty."""
    if not settings.model_lock.strip():
        return [(None, settings)]
    try:
        entries = json.loads(settings.model_lock)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--model_lock: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError('--model_lock: give a JSON list of objects, e.g. [{"base_model": "..."}, ...]')
    if len(entries) > MAX_MODELS:
        raise ConfigError(f"--model_lock: at most {MAX_MODELS} models can be compared, not {len(entries)}")
    models = []
    for number, entry in enumerate(entries, 1):
        unknown = sorted(set(entry) - MODEL_KEYS)
        if unknown:
            raise ConfigError(
                f"--model_lock: model {number} has unknown keys {', '.join(unknown)}; "
                f"use {', '.join(sorted(MODEL_KEYS))}"
            )
        fields = {k: v for k, v in entry.items() if k != "name"}
        try:
            own = {**fields, "model_lock": "", "visible_vision_models": standalone_flag(settings)}
            model_settings = Settings.model_validate({**settings.model_dump(), **own})
        except ValueError as exc:
            raise ConfigError(f"--model_lock: model {number}: {exc}") from None
        models.append((entry.get("name"), model_settings))
    return models


def backend_identity(settings: Settings) -> tuple:
    """Settings that make two entries the same loaded model."""
    return (
        settings.base_model,
        settings.engine,
        settings.inference_server,
        settings.lora_weights,
        settings.max_seq_len,
        settings.load_half,
        settings.prompt_type,
    )
