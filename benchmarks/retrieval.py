"""Retrieval quality and speed on the shared SQuAD 2.0 document-QA corpus, then latency at scale.

1. Ingests ``shared/data/squad2_docqa/corpus`` into a fresh collection and measures
   recall@1/5/10 over the ANSWERABLE questions for vector-only, BM25-only and hybrid search
   (a hit: a retrieved chunk contains one of the answers, case-insensitive), ingest chunks/s
   and query latency p50/p95.
2. Pads a collection to ``--scale_chunks`` chunks (sentences of the corpus recombined) on
   FAISS and on Chroma and measures query latency there. Embedding 100k chunks would take
   hours on 2 CPU cores, so only ``--embed_unique`` padding texts are embedded and the rest
   reuse those vectors with a small random perturbation (said in the JSON).

Prints one JSON object per line.

    OMP_NUM_THREADS=1 python benchmarks/retrieval.py [--data_dir=DIR] [--scale_chunks=100000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent / "shared" / "data" / "squad2_docqa"
MODES = ("vector", "bm25", "hybrid")


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def loader_or_plain_text():
    """The project's loaders when installed; else a plain-text reader (the corpus is .txt)."""
    try:
        from h2ogpt.documents.loaders import load_paths

        return load_paths, "h2ogpt.documents.loaders"
    except ImportError:
        from langchain_core.documents import Document

        def read(paths):
            docs = [Document(Path(p).read_text(encoding="utf-8"), metadata={"source": p}) for p in paths]
            return docs, []

        return read, "plain-text fallback (loaders not installed)"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.50) * 1000, 2), "p95_ms": round(pick(0.95) * 1000, 2)}


def squad_questions() -> list[dict]:
    rows = [json.loads(line) for line in (SQUAD / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if not r["is_impossible"] and r["answers"]]


def recall_run(store, collection: str, questions: list[dict], mode: str) -> dict:
    at = {1: 0, 5: 0, 10: 0}
    latencies: list[float] = []
    for q in questions:
        started = time.perf_counter()
        hits = store.search(collection, q["question"], k=10, mode=mode)
        latencies.append(time.perf_counter() - started)
        answers = [a.lower() for a in q["answers"]]
        first = next((i for i, h in enumerate(hits) if any(a in h.text.lower() for a in answers)), None)
        for k in at:
            at[k] += first is not None and first < k
    n = len(questions)
    return {f"recall@{k}": round(v / n, 4) for k, v in at.items()} | percentiles(latencies)


def squad_benchmark(settings, embedder) -> None:
    from h2ogpt.documents.library import DocumentLibrary

    load, loader_name = loader_or_plain_text()
    store = DocumentLibrary(settings, embedder=embedder, loader=load)
    started = time.perf_counter()
    report = store.ingest([SQUAD / "corpus"], collection="SquadBench")
    seconds = time.perf_counter() - started
    emit(
        {
            "benchmark": "retrieval_ingest",
            "corpus": "squad2_docqa",
            "db_type": settings.db_type,
            "loader": loader_name,
            "documents": len(report.ok),
            "failed": len(report.failed),
            "chunks": report.chunks_added,
            "chunk_tokens": store.chunker.chunk_size,
            "chunk_overlap": store.chunker.chunk_overlap,
            "seconds": round(seconds, 2),
            "chunks_per_s": round(report.chunks_added / seconds, 2),
        }
    )
    questions = squad_questions()
    for mode in MODES:
        result = recall_run(store, "SquadBench", questions, mode)
        emit({"benchmark": "retrieval_recall", "mode": mode, "questions": len(questions)} | result)
    store.close()


def padding_texts(n: int, seed: int = 0) -> list[str]:
    sentences = [
        s.strip() + "."
        for path in sorted((SQUAD / "corpus").glob("*.txt"))
        for s in path.read_text(encoding="utf-8").replace("\n", " ").split(". ")
        if len(s.split()) > 4
    ]
    rng = random.Random(seed)
    return [" ".join(rng.sample(sentences, rng.randint(3, 6))) for _ in range(n)]


def padding_vectors(embedder, texts: list[str], unique: int, seed: int = 0) -> np.ndarray:
    base = np.asarray(embedder.embed(texts[:unique], batch_size=64), dtype="float32")
    rng = np.random.default_rng(seed)
    tiled = base[np.arange(len(texts)) % unique] + rng.normal(0, 0.02, (len(texts), base.shape[1])).astype(
        "float32"
    )
    return tiled / np.linalg.norm(tiled, axis=1, keepdims=True)


def scale_benchmark(settings, embedder, texts: list[str], vectors: np.ndarray, unique: int) -> None:
    from h2ogpt.documents.catalog import DocumentInfo
    from h2ogpt.documents.library import DocumentLibrary
    from h2ogpt.documents.stores.base import Chunk

    store = DocumentLibrary(settings, embedder=embedder)
    collection = store.registry.open(store.registry.resolve("ScaleBench", None), create=True)
    source = "synthetic-padding"
    chunks = [
        Chunk(f"pad-{i:06d}", t, {"source": source, "content_sha256": "pad", "chunk_index": i})
        for i, t in enumerate(texts)
    ]
    started = time.perf_counter()
    for start in range(0, len(chunks), 5000):
        collection.store.add(chunks[start : start + 5000], vectors[start : start + 5000].tolist())
    collection.store.flush()
    add_s = time.perf_counter() - started
    collection.catalog.record([DocumentInfo(source, "pad", "padding", "pad", len(chunks), 1, time.time())])
    started = time.perf_counter()
    collection.ensure_keyword_index()
    bm25_s = time.perf_counter() - started
    questions = [q["question"] for q in squad_questions()[:200]]
    record = {
        "benchmark": "retrieval_scale",
        "db_type": settings.db_type,
        "chunks": collection.store.count(),
        "embedded_unique": unique,
        "vectors": f"{unique} embedded padding texts tiled with N(0, 0.02) noise, renormalized",
        "store_add_s": round(add_s, 2),
        "bm25_build_s": round(bm25_s, 2),
    }
    for mode in MODES:
        latencies = []
        for q in questions:
            started = time.perf_counter()
            store.search("ScaleBench", q, k=10, mode=mode)
            latencies.append(time.perf_counter() - started)
        record[mode] = percentiles(latencies)
    emit(record)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--db_type", default="chroma", choices=["chroma", "faiss"])
    parser.add_argument("--scale_chunks", type=int, default=100_000)
    parser.add_argument("--embed_unique", type=int, default=1000)
    parser.add_argument("--skip_scale", action="store_true")
    args = parser.parse_args()
    if args.data_dir:
        run_all(args, Path(args.data_dir))
    else:
        with tempfile.TemporaryDirectory(prefix="h2ogpt-retrieval-") as tmp:
            run_all(args, Path(tmp))


def run_all(args: argparse.Namespace, data_dir: Path) -> None:
    from h2ogpt.documents.embeddings import Embedder
    from h2ogpt.settings import Settings

    settings = Settings(data_dir=data_dir / args.db_type, db_type=args.db_type)
    embedder = Embedder.from_settings(settings)
    squad_benchmark(settings, embedder)
    if args.skip_scale:
        return
    texts = padding_texts(args.scale_chunks)
    started = time.perf_counter()
    vectors = padding_vectors(embedder, texts, min(args.embed_unique, len(texts)))
    seconds = round(time.perf_counter() - started, 2)
    emit({"benchmark": "padding_embed", "texts": args.embed_unique, "seconds": seconds})
    for db_type in ("faiss", "chroma"):
        scale_settings = Settings(data_dir=data_dir / f"scale-{db_type}", db_type=db_type)
        scale_benchmark(scale_settings, embedder, texts, vectors, args.embed_unique)


if __name__ == "__main__":
    main()
