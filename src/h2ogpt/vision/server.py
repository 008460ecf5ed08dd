"""Which served model looks at images: ``--visible_vision_models`` names a server
(``vllm_chat:URL``, ``openai_chat:[URL]``, ``ollama:[URL]``, a bare http(s) URL) or, as in
h2oGPT, a model of ``--model_lock`` by its ``name`` or ``base_model`` (that entry must be a served
model on a chat endpoint that takes images)."""

from __future__ import annotations

import json
from typing import Any

from h2ogpt.backends.remote.spec import REMOTE_KINDS, ServerSpec, parse_inference_server
from h2ogpt.errors import ConfigError

VISION_KINDS = tuple(kind for kind, server in REMOTE_KINDS.items() if server.vision)
FLAG = "--visible_vision_models"


def _locked_entry(model_lock: str, name: str) -> dict[str, Any] | None:
    """The ``--model_lock`` entry called ``name`` (its name or base_model), if any."""
    try:
        entries = json.loads(model_lock) if model_lock.strip() else []
    except json.JSONDecodeError:
        return None  # --model_lock reports its own JSON errors
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and name in (entry.get("name"), entry.get("base_model")):
            return entry
    return None


def resolve_vision_server(value: str, model_lock: str = "") -> ServerSpec | None:
    """The vision model's server for ``--visible_vision_models=value`` (None when empty).
    Raises ConfigError naming the flag when it is neither a usable server nor a served
    ``--model_lock`` model."""
    value = value.strip()
    if not value:
        return None
    entry = _locked_entry(model_lock, value)
    if entry is not None:
        server = str(entry.get("inference_server") or "").strip()
        if not server:
            raise ConfigError(
                f"{FLAG}={value}: that --model_lock model runs on this machine and cannot see images; "
                "name a model_lock entry with an inference_server (e.g. vllm_chat:URL)"
            )
        where = f"{FLAG}={value} (its --model_lock inference_server)"
    else:
        server, where = value, f"{FLAG}={value}"
    try:
        spec = parse_inference_server(server)
    except ConfigError as exc:
        names = "" if not model_lock.strip() else " or the name of a --model_lock entry"
        raise ConfigError(f"{where}: {str(exc).split(': ', 1)[-1]}{names}") from None
    if spec.kind not in VISION_KINDS:
        raise ConfigError(
            f"{where}: a vision model must be served on a chat endpoint that takes images: use "
            f"{', '.join(k + ':URL' for k in VISION_KINDS[:3])} or a bare http(s) URL, not {spec.kind}:"
        )
    return spec


def standalone_flag(settings: Any) -> str:
    """``--visible_vision_models`` as a server, for Settings that drop ``--model_lock`` (each
    compared model's own): a model_lock name becomes that entry's inference_server."""
    value = (getattr(settings, "visible_vision_models", "") or "").strip()
    entry = _locked_entry(getattr(settings, "model_lock", "") or "", value) if value else None
    return str(entry.get("inference_server") or value) if entry is not None else value


def vision_server(settings: Any) -> ServerSpec | None:
    """The vision model's server from Settings (any object with those two flags)."""
    return resolve_vision_server(
        getattr(settings, "visible_vision_models", "") or "", getattr(settings, "model_lock", "") or ""
    )
