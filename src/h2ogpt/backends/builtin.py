"""The built-in backends, registered as any plug-in registers its own: the llama.cpp engine
(GGUF files; registered first, so ``--engine=auto`` gives it every GGUF), the transformers
engine (HF folders, HF cache ids, GGUF converted once) and the remote server kinds."""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING

from h2ogpt.backends.remote.spec import REMOTE_KINDS
from h2ogpt.backends.selection import BackendSpec
from h2ogpt.errors import ConfigError
from h2ogpt.plugins import hookimpl

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from h2ogpt.backends.base import Backend
    from h2ogpt.settings import Settings


def _refuse_transformers_options(settings: Settings) -> None:
    """Options of the transformers engine that llama.cpp cannot honour: one line, not ignored."""
    for flag in ("load_8bit", "load_4bit", "load_half"):
        if getattr(settings, flag):
            raise ConfigError(
                f"--{flag} applies to the transformers engine; a GGUF file is already quantized "
                "(its type is in the file): drop the flag, or use --engine=transformers"
            )


def _gpu_layers(settings: Settings) -> int:
    """Layers llama.cpp offloads: --n_gpu_layers when set, else every layer where --device allows a
    GPU and this llama-cpp-python build sees one (as h2oGPT does), else none."""
    from h2ogpt.backends.llamacpp import native

    if settings.n_gpu_layers is not None:
        if settings.n_gpu_layers != 0 and not native.gpu_offload_supported():
            log.warning(
                "--n_gpu_layers=%d: this llama-cpp-python build sees no GPU; running on the CPU",
                settings.n_gpu_layers,
            )
        return settings.n_gpu_layers
    if settings.device == "cpu":
        return 0
    if native.gpu_offload_supported():
        return -1
    if settings.device == "cuda":
        raise ConfigError(
            "--device=cuda: this llama-cpp-python build offloads nothing to a GPU (a CPU build, or no "
            "GPU visible); rebuild it with CUDA (docs/models.md, 'On a GPU') or use --device=cpu"
        )
    return 0


def _llamacpp(settings: Settings) -> Backend:
    from h2ogpt.backends.model_source import resolve_model

    _refuse_transformers_options(settings)
    source = resolve_model(settings.base_model, settings.data_dir)
    if source.kind != "gguf":
        raise ConfigError(
            f"--engine=llama.cpp: {source.location} is not a GGUF file; use --engine=transformers for a "
            "HF model folder or id"
        )
    from h2ogpt.backends.batching import BatchingBackend
    from h2ogpt.backends.llamacpp.engine import LlamaCppEngine

    gpu_layers = _gpu_layers(settings)
    log.info("Loading %s with llama.cpp", source.display_name)
    return BatchingBackend.load_on_worker(
        lambda: LlamaCppEngine.load(
            source.location,
            name=source.display_name,
            n_ctx=settings.max_seq_len,
            n_threads=settings.n_threads,
            n_gpu_layers=gpu_layers,
            amx=settings.llama_amx,
            max_rows=settings.max_batch_rows,
            lora=settings.lora_weights,
        ),
        settings.max_batch_rows,
    )


def _transformers(settings: Settings) -> Backend:
    from h2ogpt.backends.model_source import resolve_model

    source = resolve_model(
        settings.base_model, settings.data_dir
    )  # before importing torch: a bad path fails fast
    from h2ogpt.backends.batching import BatchingBackend
    from h2ogpt.backends.transformers.engine import TransformersEngine

    return BatchingBackend(TransformersEngine.from_settings(source, settings), settings.max_batch_rows)


def _remote(settings: Settings) -> Backend:
    from h2ogpt.backends.remote.backend import RemoteBackend  # imports the openai client only when used

    return RemoteBackend.from_settings(settings)


@hookimpl
def register_backends(register) -> None:
    if importlib.util.find_spec("llama_cpp") is not None:  # llama-cpp-python is installed
        register(
            BackendSpec(
                "llama.cpp",
                _llamacpp,
                "a GGUF model run by llama.cpp on this machine (CPU, or a GPU with a CUDA build)",
                handles=frozenset({"gguf"}),
            )
        )
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
