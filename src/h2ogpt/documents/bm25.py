"""Keyword search: one bm25s index per collection, saved next to the collection's catalog.

The index is derived data: it is rebuilt from the vector store's chunks whenever the
catalog's generation moved on (after an ingest or a delete, or after a crash in between).
Tokens are lower-cased words of two or more letters/digits, English stop words removed,
Snowball-stemmed when PyStemmer is installed.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from h2ogpt.documents.chunking import indexed_text
from h2ogpt.documents.stores.base import Chunk
from h2ogpt.documents.stores.faiss import atomic_write_bytes

log = logging.getLogger(__name__)

CURRENT = "current.json"


def _stemmer() -> Any:
    try:
        import Stemmer
    except ImportError:
        return None
    return Stemmer.Stemmer("english")


class KeywordTokenizer:
    """The same tokenization for indexing and for queries."""

    def __init__(self) -> None:
        self.stemmer = _stemmer()
        self.name = "bm25s-en-stopwords-title" + ("-snowball" if self.stemmer else "")

    def __call__(self, texts: Sequence[str], ids: bool) -> Any:
        import bm25s

        return bm25s.tokenize(
            list(texts), stopwords="en", stemmer=self.stemmer, show_progress=False, return_ids=ids
        )


class BM25Index:
    """A bm25s index for one collection, persisted under ``folder``."""

    def __init__(self, folder: Path, tokenizer: KeywordTokenizer | None = None) -> None:
        self.folder = Path(folder)
        self.tokenizer = tokenizer or KeywordTokenizer()
        self._lock = threading.Lock()
        self._retriever: Any = None
        self._ids: list[str] = []
        self._sources: np.ndarray = np.array([], dtype=object)
        self._generation: int | None = None

    def _read_current(self) -> dict[str, Any]:
        path = self.folder / CURRENT
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def is_current(self, generation: int) -> bool:
        if self._generation == generation:
            return True
        state = self._read_current()
        if state.get("generation") != generation or state.get("tokenizer") != self.tokenizer.name:
            return False
        self._generation = None  # saved by another process or object: load it on the next search
        return True

    def rebuild(self, chunks: Iterable[Chunk], generation: int) -> int:
        """Index ``chunks`` afresh and save it; returns how many were indexed."""
        import bm25s

        items = [(c.id, indexed_text(c.text, c.metadata), str(c.metadata.get("source", ""))) for c in chunks]
        with self._lock:
            retriever = None
            name = f"bm25-{generation:08d}"
            target = self.folder / name
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            if items:
                retriever = bm25s.BM25()
                retriever.index(self.tokenizer([t for _, t, _ in items], ids=True), show_progress=False)
                retriever.save(str(target))
            ids = [i for i, _, _ in items]
            sources = [s for _, _, s in items]
            atomic_write_bytes(target / "chunks.json", json.dumps({"ids": ids, "sources": sources}).encode())
            state = {"generation": generation, "tokenizer": self.tokenizer.name, "folder": name}
            atomic_write_bytes(self.folder / CURRENT, json.dumps(state).encode())
            for stale in self.folder.glob("bm25-*"):
                if stale.name != name:
                    shutil.rmtree(stale, ignore_errors=True)
            self._set(retriever, ids, sources, generation)
        return len(items)

    def _set(self, retriever: Any, ids: list[str], sources: list[str], generation: int) -> None:
        self._retriever, self._ids, self._generation = retriever, ids, generation
        self._sources = np.array(sources, dtype=object)

    def _load(self) -> None:
        import bm25s

        state = self._read_current()
        target = self.folder / state["folder"]
        saved = json.loads((target / "chunks.json").read_text(encoding="utf-8"))
        retriever = bm25s.BM25.load(str(target)) if saved["ids"] else None
        self._set(retriever, saved["ids"], saved["sources"], int(state["generation"]))

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first; only chunks sharing a term with the query."""
        with self._lock:
            if self._generation is None:
                self._load()
            retriever, ids = self._retriever, self._ids
            mask = np.isin(self._sources, list(sources)).astype("float32") if sources else None
        if retriever is None or not ids or k <= 0:
            return []
        tokens = self.tokenizer([query], ids=False)
        if not tokens or not tokens[0]:
            return []
        docs, scores = retriever.retrieve(
            tokens, k=min(k, len(ids)), show_progress=False, weight_mask=mask, n_threads=1
        )
        return [(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
