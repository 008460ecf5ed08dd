"""Which backend the Settings ask for: ``--inference_server=KIND:URL`` picks a remote kind,
else ``--engine`` a local engine (``auto``: the first engine that handles the model's form).

Backends are plug-ins (:data:`h2ogpt.plugins.backends`): each registers a
:class:`BackendSpec`, the built-ins included (``h2ogpt.backends.builtin``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from h2ogpt import plugins
from h2ogpt.backends.model_source import ModelSource, resolve_model
from h2ogpt.backends.remote.spec import SYNTAX_HELP, server_kind
from h2ogpt.errors import ConfigError

if TYPE_CHECKING:
    from h2ogpt.backends.base import Backend
    from h2ogpt.settings import Settings

AUTO_ENGINE = "auto"


@dataclass(frozen=True)
class BackendSpec:
    """A backend as registered: its name, how to create it, and what it serves.

    A local engine (``remote=False``) is chosen by ``--engine=name``; ``handles`` says which
    model forms (``ModelSource.kind``: gguf, folder, hub_cache) ``--engine=auto`` may give it.
    A remote kind (``remote=True``) is chosen by ``--inference_server=name:URL``.
    """

    name: str
    create: Callable[[Settings], Backend]
    description: str = ""
    remote: bool = False
    handles: frozenset[str] = field(default_factory=frozenset)


def local_engines() -> list[str]:
    return [e.name for e in plugins.backends.entries() if not e.value.remote]


def remote_kinds() -> list[str]:
    return [e.name for e in plugins.backends.entries() if e.value.remote]


def engine_for(engine: str, source: ModelSource) -> BackendSpec:
    """The local engine ``--engine`` names, or for ``auto`` the first that handles ``source``."""
    if engine != AUTO_ENGINE:
        spec = plugins.backends.get(engine, "--engine")
        if spec.remote:
            raise ConfigError(
                f"--engine={engine}: that is a remote server kind; use --inference_server={engine}:URL"
            )
        return spec
    for entry in plugins.backends.entries():
        if not entry.value.remote and source.kind in entry.value.handles:
            return entry.value
    raise ConfigError(
        f"--base_model={source.location}: no installed engine loads a {source.kind} model; "
        f"choose one with --engine ({', '.join(local_engines())})"
    )


def backend_spec(settings: Settings) -> BackendSpec:
    """The backend the Settings ask for; ConfigError for an unknown or unavailable one."""
    server = settings.inference_server.strip()
    if not server:
        return engine_for(settings.engine, resolve_model(settings.base_model, settings.data_dir))
    kind = server_kind(server)
    spec = plugins.backends.find(kind)
    if spec is None or not spec.remote:
        raise ConfigError(f"--inference_server={server}: unknown server kind '{kind}'; {SYNTAX_HELP}")
    return spec


def create_backend(settings: Settings) -> Backend:
    """The backend the Settings ask for, created; raises ConfigError for a bad choice."""
    return backend_spec(settings).create(settings)
