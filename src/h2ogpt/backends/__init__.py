"""Backends produce tokens. ``create_backend`` picks one from the Settings.

Built-in backends are ordinary entries of :data:`BACKEND_FACTORIES`, keyed by the
prefix of ``--inference_server`` (``""`` is the local model).
"""

from __future__ import annotations

from collections.abc import Callable

from h2ogpt.backends.base import Backend
from h2ogpt.backends.remote_spec import REMOTE_KINDS, SYNTAX_HELP, server_kind
from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings


def _local(settings: Settings) -> Backend:
    from h2ogpt.backends.model_source import resolve_model

    source = resolve_model(settings.base_model)  # before importing torch: a bad path fails fast
    from h2ogpt.backends.batching import BatchingBackend
    from h2ogpt.backends.local import LocalBackend

    return BatchingBackend(LocalBackend.from_settings(source, settings), settings.max_batch_rows)


def _remote(settings: Settings) -> Backend:
    from h2ogpt.backends.remote import RemoteBackend  # imports the openai client only when used

    return RemoteBackend.from_settings(settings)


BACKEND_FACTORIES: dict[str, Callable[[Settings], Backend]] = {
    "": _local,
    **dict.fromkeys(REMOTE_KINDS, _remote),
}


def backend_kind(settings: Settings) -> str:
    """The registry key for ``--inference_server``: its ``kind:`` prefix, ``openai_compatible``
    for a bare http(s) URL, or '' for the local model. Raises ConfigError for an unknown kind."""
    server = settings.inference_server.strip()
    if not server:
        return ""
    kind = server_kind(server)
    if kind not in BACKEND_FACTORIES:
        raise ConfigError(f"--inference_server={server}: unknown server kind '{kind}'; {SYNTAX_HELP}")
    return kind


def create_backend(settings: Settings) -> Backend:
    """The backend the Settings ask for; raises ConfigError for an unknown or unavailable one."""
    kind = backend_kind(settings)
    factory = BACKEND_FACTORIES.get(kind)
    if factory is None:
        raise ConfigError(
            f"--inference_server={settings.inference_server}: no backend '{kind}' is registered"
        )
    return factory(settings)
