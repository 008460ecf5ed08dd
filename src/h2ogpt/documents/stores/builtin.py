"""The built-in vector stores, registered as any plug-in registers its own: Chroma
(persistent under ``--data_dir``, or the server at ``--chroma_url``) and FAISS (files in
each collection's folder)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from h2ogpt.documents.stores.base import VectorStore, VectorStoreSpec
from h2ogpt.plugins import hookimpl

if TYPE_CHECKING:
    from h2ogpt.settings import Settings

log = logging.getLogger(__name__)


def _chroma_client(settings: Settings) -> Any:
    from h2ogpt.documents.stores import chroma

    if settings.chroma_url:
        return chroma.server_client(settings.chroma_url)
    return chroma.persistent_client(Path(settings.data_dir) / "chroma")


def _open_chroma(settings: Settings, store_name: str, folder: Path, dimensions: int) -> VectorStore:
    from h2ogpt.documents.stores.chroma import ChromaStore

    return ChromaStore(_chroma_client(settings), store_name)


def _drop_chroma(settings: Settings, store_name: str, folder: Path) -> None:
    try:
        _chroma_client(settings).delete_collection(store_name)
    except Exception as exc:  # it may never have been created
        log.debug("no Chroma collection %s to delete: %s", store_name, exc)


def _open_faiss(settings: Settings, store_name: str, folder: Path, dimensions: int) -> VectorStore:
    from h2ogpt.documents.stores.faiss import FaissStore

    return FaissStore(folder / "faiss", dimensions)


def _drop_faiss(settings: Settings, store_name: str, folder: Path) -> None:
    import shutil

    shutil.rmtree(folder / "faiss", ignore_errors=True)


@hookimpl
def register_vector_stores(register) -> None:
    register(
        VectorStoreSpec(
            "chroma",
            _open_chroma,
            _drop_chroma,
            lambda settings: settings.chroma_url.rstrip("/") if settings.chroma_url else "chroma",
            "Chroma: persistent under --data_dir, or the Chroma server at --chroma_url",
        )
    )
    register(
        VectorStoreSpec(
            "faiss",
            _open_faiss,
            _drop_faiss,
            lambda settings: "faiss",
            "FAISS index files in each collection",
        )
    )
