"""Backends produce tokens. ``create_backend`` picks one from the Settings.

Built-in backends are ordinary entries of :data:`BACKEND_FACTORIES`, keyed by the
prefix of ``--inference_server`` (``""`` is the local model).
"""

from __future__ import annotations

from collections.abc import Callable

from h2ogpt.backends.base import Backend
from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings


def _local(settings: Settings) -> Backend:
    from h2ogpt.backends.model_source import resolve_model

    source = resolve_model(settings.base_model)  # before importing torch: a bad path fails fast
    from h2ogpt.backends.batching import BatchingBackend
    from h2ogpt.backends.local import LocalBackend

    return BatchingBackend(LocalBackend.from_settings(source, settings), settings.max_batch_rows)


BACKEND_FACTORIES: dict[str, Callable[[Settings], Backend]] = {"": _local}


def backend_kind(settings: Settings) -> str:
    """The registry key for ``--inference_server`` (its ``kind:`` prefix, or '' for local)."""
    server = settings.inference_server.strip()
    if not server:
        return ""
    kind = server.split(":", 1)[0]
    return "openai" if kind in ("http", "https") else kind


def create_backend(settings: Settings) -> Backend:
    """The backend the Settings ask for; raises ConfigError for an unknown or unavailable one."""
    kind = backend_kind(settings)
    factory = BACKEND_FACTORIES.get(kind)
    if factory is None:
        raise ConfigError(
            f"--inference_server={settings.inference_server}: remote backends are not available in "
            "this version; leave it empty to run the model locally"
        )
    return factory(settings)
