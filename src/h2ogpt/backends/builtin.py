"""The built-in backends, registered as any plug-in registers its own: the transformers
engine (HF folders, HF cache ids, GGUF converted once) and the remote server kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from h2ogpt.backends.remote_spec import REMOTE_KINDS
from h2ogpt.backends.selection import BackendSpec
from h2ogpt.plugins import hookimpl

if TYPE_CHECKING:
    from h2ogpt.backends.base import Backend
    from h2ogpt.settings import Settings


def _transformers(settings: Settings) -> Backend:
    from h2ogpt.backends.model_source import resolve_model

    source = resolve_model(
        settings.base_model, settings.data_dir
    )  # before importing torch: a bad path fails fast
    from h2ogpt.backends.batching import BatchingBackend
    from h2ogpt.backends.local import LocalBackend

    return BatchingBackend(LocalBackend.from_settings(source, settings), settings.max_batch_rows)


def _remote(settings: Settings) -> Backend:
    from h2ogpt.backends.remote import RemoteBackend  # imports the openai client only when used

    return RemoteBackend.from_settings(settings)


@hookimpl
def register_backends(register) -> None:
    register(
        BackendSpec(
            "transformers",
            _transformers,
            "a transformers model on this machine: HF folder, HF cache id, or GGUF (converted once)",
            handles=frozenset({"gguf", "folder", "hub_cache"}),
        )
    )
    for kind, server in REMOTE_KINDS.items():
        what = "chat" if server.chat_native else "completions"
        register(
            BackendSpec(kind, _remote, f"a remote OpenAI-compatible server ({what} endpoint)", remote=True)
        )
