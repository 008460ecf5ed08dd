"""Collections and retrieval on real stores (Chroma local, Chroma server, FAISS) and the real
embedded embedding model: chunking, ingest, re-ingest, replace, delete, users, model changes,
restarts, crashes and hybrid search."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.documents import Document

from h2ogpt.documents.chunking import Chunker
from h2ogpt.documents.collections import CollectionError
from h2ogpt.documents.embeddings import Embedder, embedding_model_path
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.settings import Settings
from support.paths import TESTS

STORES = ["chroma", "faiss"]

TOPICS = {
    "volcano.txt": "Volcanoes erupt when magma rises through the crust. Lava flows and ash clouds follow "
    "an eruption. Mount Etna in Sicily is one of the most active volcanoes in Europe.",
    "baking.txt": "To bake bread, mix flour, water, salt and yeast. Let the dough rise for two hours, "
    "then bake it at 230 degrees until the crust is golden brown.",
    "router.txt": "If the router shows error code XJ-4471, unplug it for thirty seconds. The status "
    "light blinks amber while the firmware update is installed.",
    "chess.txt": "In chess, castling moves the king two squares towards a rook. The Sicilian Defence "
    "is a popular reply to the opening move e4.",
}


def plain_text_loader(paths):
    """Tiny test-only stand-in used while the document loaders are not installed."""
    docs = [
        Document(Path(p).read_text(encoding="utf-8"), metadata={"source": p, "title": Path(p).name})
        for p in paths
    ]
    return docs, []


def project_loader():
    try:
        from h2ogpt.documents.loaders import load_paths
    except ImportError:
        return plain_text_loader
    return load_paths


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.from_settings(Settings())


def make_store(tmp_path: Path, embedder: Embedder, db_type: str = "chroma", **fields) -> DocumentLibrary:
    settings = Settings(data_dir=tmp_path / "data", db_type=db_type, chunk_size=48, chunk_overlap=8, **fields)
    return DocumentLibrary(settings, embedder=embedder, loader=project_loader())


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def assert_consistent(store: DocumentLibrary, collection: str = "UserData", user: str | None = None) -> None:
    """The catalog's chunk counts match what the vector store holds."""
    opened = store.registry.open(store.registry.resolve(collection, user))
    _documents, chunks = opened.catalog.totals()
    assert opened.store.count() == chunks
    assert not opened.catalog.pending()


# --- chunking -----------------------------------------------------------------------------
def test_chunks_never_cross_pages_and_respect_token_size(embedder: Embedder) -> None:
    chunker = Chunker(embedder.model.tokenizer, chunk_size=40, chunk_overlap=8)
    words = " ".join(f"word{i} of page one." for i in range(80))
    pages = [
        Document(words, metadata={"source": "book.pdf", "page": 1, "title": "Book"}),
        Document("Second page. " * 60, metadata={"source": "book.pdf", "page": 2, "title": "Book"}),
    ]
    chunks = chunker.split(pages, "ab" * 32)
    assert len(chunks) > 4
    assert {c.metadata["page"] for c in chunks} == {1, 2}
    for chunk in chunks:
        page = pages[chunk.metadata["page"] - 1].page_content
        start = chunk.metadata["start_index"]
        assert page[start : start + len(chunk.page_content)] == chunk.page_content
        assert chunker.count_tokens(chunk.page_content) <= 40
        assert chunk.metadata["title"] == "Book" and chunk.metadata["source"] == "book.pdf"
    assert len({c.metadata["chunk_id"] for c in chunks}) == len(chunks)
    assert len({c.metadata["doc_id"] for c in chunks}) == 1


def test_chunk_size_is_capped_at_the_embedding_window(embedder: Embedder) -> None:
    chunker = Chunker.for_model(embedder.model, chunk_size=4096, chunk_overlap=64)
    assert chunker.chunk_size <= embedder.model.max_seq_length


# --- ingest and search on both stores -------------------------------------------------------
@pytest.mark.parametrize("db_type", STORES)
def test_ingest_search_reingest_replace_delete(tmp_path: Path, embedder: Embedder, db_type: str) -> None:
    corpus = write_corpus(tmp_path / "docs", TOPICS)
    store = make_store(tmp_path, embedder, db_type)
    report = store.ingest([corpus])
    assert [r.status for r in report.results] == ["added"] * 4 and report.chunks_added >= 4
    hits = store.search("UserData", "How long should dough rise?", k=2)
    assert hits and hits[0].source.endswith("baking.txt") and "two hours" in hits[0].text
    assert_consistent(store)

    again = store.ingest([corpus])
    assert {r.status for r in again.results} == {"unchanged"} and again.chunks_added == 0
    assert_consistent(store)

    (corpus / "baking.txt").write_text(
        "Sourdough needs a starter fed with rye flour every day.", encoding="utf-8"
    )
    changed = store.ingest([corpus])
    assert {r.source.rsplit("/", 1)[-1]: r.status for r in changed.results}["baking.txt"] == "replaced"
    texts = [h.text for h in store.search("UserData", "bread dough yeast sourdough", k=10)]
    assert any("rye flour" in t for t in texts) and not any("two hours" in t for t in texts)
    assert_consistent(store)

    router = str(corpus / "router.txt")
    assert store.delete_documents([router]) == 1
    assert router not in {d.source for d in store.list_documents()}
    assert all(h.source != router for h in store.search("UserData", "error code XJ-4471", k=10))
    assert len(store.list_documents()) == 3
    assert_consistent(store)


@pytest.mark.parametrize("db_type", STORES)
def test_search_filters_by_source_and_mode(tmp_path: Path, embedder: Embedder, db_type: str) -> None:
    store = make_store(tmp_path, embedder, db_type)
    store.ingest([write_corpus(tmp_path / "docs", TOPICS)])
    chess = next(d.source for d in store.list_documents() if d.source.endswith("chess.txt"))
    for mode in ("vector", "bm25", "hybrid"):
        hits = store.search("UserData", "Sicilian volcano", k=5, sources=[chess], mode=mode)
        assert hits and {h.source for h in hits} == {chess}, mode
    assert store.search("UserData", "", k=3) == []
    with pytest.raises(CollectionError):
        store.search("NoSuchCollection", "anything")


def test_documents_as_input_and_page_metadata(tmp_path: Path, embedder: Embedder) -> None:
    store = make_store(tmp_path, embedder)
    pages = [
        Document("The treaty was signed in 1763 in Paris.", metadata={"source": "history.pdf", "page": 1}),
        Document("Trade routes moved to the Atlantic.", metadata={"source": "history.pdf", "page": 2}),
    ]
    report = store.ingest(pages, collection="History")
    assert report.results[0].status == "added"
    hit = store.search("History", "When was the treaty signed?", k=1)[0]
    assert (hit.source, hit.page) == ("history.pdf", 1)
    assert store.list_documents("History")[0].pages == 2
    assert store.ingest(pages, collection="History").results[0].status == "unchanged"


# --- collections and users ------------------------------------------------------------------
def test_mydata_is_private_per_user(tmp_path: Path, embedder: Embedder) -> None:
    store = make_store(tmp_path, embedder)
    secret = Document("Alice's locker code is 8812.", metadata={"source": "alice-notes.txt"})
    store.ingest([secret], collection="MyData", user="alice@example.com")
    assert store.search("MyData", "locker code", k=3, user="alice@example.com")
    assert store.search("MyData", "locker code", k=3, user="bob") == []
    assert store.list_documents("MyData", user="bob") == []

    store.ingest([secret], collection="alice-notes", user="alice@example.com")  # created private
    store.create_collection("alice-projects", user="alice@example.com")
    store.create_collection("team-wiki")
    alice = {c.name for c in store.list_collections("alice@example.com")}
    bob = {c.name for c in store.list_collections("bob")}
    assert {"UserData", "MyData", "alice-projects", "team-wiki"} <= alice
    assert "alice-projects" not in bob and "alice-notes" not in bob and "team-wiki" in bob
    assert "alice-notes" in alice
    with pytest.raises(CollectionError):
        store.search("alice-projects", "anything", user="bob")
    store.delete_collection("team-wiki")
    assert "team-wiki" not in {c.name for c in store.list_collections("bob")}


@pytest.mark.parametrize("name", ["ab", "has space", "x" * 64, "semi;colon", "LLM", ""])
def test_bad_collection_names_are_refused(tmp_path: Path, embedder: Embedder, name: str) -> None:
    store = make_store(tmp_path, embedder)
    with pytest.raises(CollectionError, match=r"collection|documents"):
        store.create_collection(name)


def test_embedding_model_change_is_detected(tmp_path: Path, embedder: Embedder) -> None:
    store = make_store(tmp_path, embedder)
    store.ingest([Document("Glaciers carve valleys.", metadata={"source": "ice.txt"})])
    store.close()
    other = tmp_path / "other-minilm"  # the same weights under another name: a "different" model
    other.mkdir()
    folder, _ = embedding_model_path("")
    for item in Path(folder).iterdir():
        (other / item.name).symlink_to(item)
    changed = make_store(tmp_path, Embedder(str(other), "other-minilm"), hf_embedding_model=str(other))
    with pytest.raises(CollectionError) as error:
        changed.search("UserData", "glaciers")
    message = str(error.value)
    assert "all-MiniLM-L6-v2" in message and "other-minilm" in message and "--hf_embedding_model" in message
    assert changed.list_collections()[0].documents == 1  # listing still works
    changed.delete_collection("UserData")
    changed.ingest([Document("Glaciers carve valleys.", metadata={"source": "ice.txt"})])
    assert changed.search("UserData", "glaciers", k=1)


# --- restarts, crashes, servers --------------------------------------------------------------
SUBPROCESS_STORE = """
import json, sys
from support import netguard
netguard.install()
from pathlib import Path
from langchain_core.documents import Document
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.settings import Settings
def loader(paths):
    return [Document(Path(p).read_text(), metadata={{"source": p}}) for p in paths], []
store = DocumentLibrary(
    Settings(data_dir={data_dir!r}, db_type={db_type!r}, chunk_size=32, chunk_overlap=4, **{shared!r}),
    loader=loader, batch_chunks={batch},
)
def progress(p):
    print("progress", p.documents_done, p.chunks_embedded, flush=True)
report = store.ingest([{corpus!r}], progress=progress)
print("REPORT", json.dumps(report.to_dict()), flush=True)
print("VIOLATIONS", len(netguard.violations), flush=True)
"""


def store_script(
    data_dir: Path, db_type: str, corpus: Path, batch: int = 256, shared: dict[str, str] | None = None
) -> list[str]:
    """``shared``: chroma_url and database_url, for a replica's library."""
    code = textwrap.dedent(SUBPROCESS_STORE).format(
        data_dir=str(data_dir), db_type=db_type, corpus=str(corpus), batch=batch, shared=shared or {}
    )
    return [sys.executable, "-c", code]


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.slow
@pytest.mark.parametrize("db_type", STORES)
def test_collections_survive_a_new_process(tmp_path: Path, embedder: Embedder, db_type: str) -> None:
    corpus = write_corpus(tmp_path / "docs", TOPICS)
    done = subprocess.run(
        store_script(tmp_path / "data", db_type, corpus),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "VIOLATIONS 0" in done.stdout
    settings = Settings(data_dir=tmp_path / "data", db_type=db_type, chunk_size=32, chunk_overlap=4)
    fresh = DocumentLibrary(settings, embedder=embedder, loader=plain_text_loader)
    assert len(fresh.list_documents()) == 4
    hits = fresh.search("UserData", "error code XJ-4471", k=3)
    assert hits and hits[0].source.endswith("router.txt")
    assert_consistent(fresh)
    again = fresh.ingest([corpus])
    assert {r.status for r in again.results} == {"unchanged"}


def numbered_corpus(folder: Path, n: int) -> Path:
    files = {
        f"note-{i:03d}.txt": " ".join(
            f"Note {i} sentence {j} about topic number {i * 7 % 13}." for j in range(12)
        )
        for i in range(n)
    }
    return write_corpus(folder, files)


@pytest.fixture(params=[*STORES, "chroma-server+postgres"])
def crash_setup(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    """(db_type, shared settings): local stores, or a replica's Chroma server and PostgreSQL."""
    if request.param in STORES:
        return request.param, {}
    shared = {
        "chroma_url": request.getfixturevalue("chroma_server"),
        "database_url": request.getfixturevalue("fresh_database_url"),
    }
    return "chroma", shared


@pytest.mark.slow
def test_killed_ingest_is_completed_by_a_rerun(
    tmp_path: Path, embedder: Embedder, crash_setup: tuple[str, dict[str, str]]
) -> None:
    db_type, shared = crash_setup
    corpus = numbered_corpus(tmp_path / "docs", 60)
    script = store_script(tmp_path / "data", db_type, corpus, batch=12, shared=shared)
    proc = subprocess.Popen(
        script, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    kill_after = random.Random().randint(12, 45)  # any moment must be safe: vary it between runs
    for line in proc.stdout:
        parts = line.split()
        if parts[:1] == ["progress"] and int(parts[1]) >= kill_after:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    settings = Settings(data_dir=tmp_path / "data", db_type=db_type, chunk_size=32, chunk_overlap=4, **shared)
    interrupted = DocumentLibrary(settings, embedder=embedder, loader=plain_text_loader)
    recorded = len(interrupted.list_documents())
    assert 0 < recorded < 60, kill_after
    assert_consistent(interrupted)  # opening reconciled whatever the kill left half-done
    interrupted.close()

    rerun = subprocess.run(script, env=subprocess_env(), capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout.split("REPORT ", 1)[1].splitlines()[0])
    statuses = [d["status"] for d in report["documents"]]
    assert statuses.count("unchanged") == recorded and statuses.count("added") == 60 - recorded

    final = DocumentLibrary(settings, embedder=embedder, loader=plain_text_loader)
    docs = final.list_documents()
    assert len(docs) == 60
    opened = final.registry.open(final.registry.resolve(None, None))
    assert opened.store.count() == sum(d.chunks for d in docs)
    ids = [c.id for c in opened.store.iter_chunks()]
    assert len(ids) == len(set(ids))
    assert final.search("UserData", "Note 42 sentence", k=3, mode="bm25")[0].source.endswith("note-042.txt")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_chroma_server(tmp_path: Path, embedder: Embedder, chroma_server: str) -> None:
    store = make_store(tmp_path, embedder, chroma_url=chroma_server)
    corpus = write_corpus(tmp_path / "docs", TOPICS)
    assert store.ingest([corpus]).chunks_added >= 4
    hits = store.search("UserData", "What does the amber light mean?", k=2)
    assert hits[0].source.endswith("router.txt")
    assert {r.status for r in store.ingest([corpus]).results} == {"unchanged"}
    assert store.delete_documents([hits[0].source]) == 1
    assert_consistent(store)
    from chromadb import HttpClient

    port = int(chroma_server.rsplit(":", 1)[1])
    names = [c.name for c in HttpClient(host="127.0.0.1", port=port).list_collections()]
    assert any(n.startswith("h2ogpt-shared_UserData") for n in names)


@pytest.mark.slow
def test_replicas_share_collections_through_postgres_and_chroma(
    tmp_path: Path, embedder: Embedder, chroma_server: str, fresh_database_url: str
) -> None:
    """Two libraries with their own --data_dir on one Chroma server and one PostgreSQL (two
    replicas): what one ingests, the other lists and finds, keyword search included; private
    collections stay private on both."""
    shared = {"chroma_url": chroma_server, "database_url": fresh_database_url}
    replica_a = make_store(tmp_path / "a", embedder, **shared)
    replica_b = make_store(tmp_path / "b", embedder, **shared)
    corpus = write_corpus(tmp_path / "docs", TOPICS)
    assert replica_a.ingest([corpus]).chunks_added >= 4
    assert [d.source for d in replica_b.list_documents()] == [d.source for d in replica_a.list_documents()]
    assert replica_b.search("UserData", "error code XJ-4471", k=2, mode="bm25")[0].source.endswith(
        "router.txt"
    )

    replica_a.create_collection("alice-notes", user="alice")
    replica_a.ingest([corpus / "volcano.txt"], collection="alice-notes", user="alice")
    assert "alice-notes" in [c.name for c in replica_b.list_collections(user="alice")]
    assert "alice-notes" not in [c.name for c in replica_b.list_collections(user="bob")]
    hits = replica_b.search("alice-notes", "Mount Etna", k=2, user="alice")
    assert hits and hits[0].source.endswith("volcano.txt")
    with pytest.raises(CollectionError, match="no collection 'alice-notes'"):
        replica_b.search("alice-notes", "Mount Etna", k=2, user="bob")

    assert replica_b.delete_documents([str(corpus / "router.txt")]) == 1
    assert str(corpus / "router.txt") not in [d.source for d in replica_a.list_documents()]
    assert not replica_a.search("UserData", "error code XJ-4471", k=2, mode="bm25")
    assert_consistent(replica_a)
    assert not list((tmp_path / "a").rglob("catalog.sqlite")) and not list(
        (tmp_path / "b").rglob("catalog.sqlite")
    )


def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    from h2ogpt.errors import UpstreamError

    store = make_store(tmp_path, embedder, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamError, match="chroma_url"):
        store.ingest([Document("text", metadata={"source": "a.txt"})])


# --- retrieval quality ------------------------------------------------------------------------
FACTS = {
    "pump.txt": "Replace the impeller of pump model PX-209 every 4000 operating hours.",
    "pump2.txt": "Pump model PX-310 needs its seals checked after 500 hours of running.",
    "pets.txt": "Cats sleep for most of the day and are active at dawn and dusk.",
    "dogs.txt": "Dogs need a daily walk and enjoy playing fetch in the park.",
    "finance.txt": "The quarterly revenue grew because more customers renewed their subscriptions.",
    "finance2.txt": "Operating costs fell after the company closed two warehouses in Ohio.",
    "space.txt": "The probe Voyager 1 left the heliosphere in 2012 and entered interstellar space.",
    "space2.txt": "The Hubble telescope orbits Earth and photographs distant galaxies.",
    "garden.txt": "Tomato plants need full sun, regular watering and support from stakes.",
    "health.txt": "Regular exercise lowers blood pressure and improves sleep quality.",
    "codes.txt": "Firmware build QZ-77 fixes the Bluetooth pairing bug on older headsets.",
    "codes2.txt": "Firmware build QZ-78 fixes a Wi-Fi disconnect on the base station.",
    "codes3.txt": "Firmware build KR-12 improves battery life of the wireless earbuds.",
    "ocean.txt": "Coral reefs bleach when the sea water stays too warm for several weeks.",
    "memo.txt": "Ticket 5521 was assigned to Marguerite Okonkwo from the billing team.",
    "memo2.txt": "Ticket 5522 about the login outage was closed by the support lead.",
}
QUERIES = {
    "PX-209 impeller": "pump.txt",
    "PX-310": "pump2.txt",
    "how often should I change the part that spins inside the water pump": "pump.txt",
    "when do felines hunt": "pets.txt",
    "why did sales go up": "finance.txt",
    "which spacecraft reached the space between stars": "space.txt",
    "QZ-77": "codes.txt",
    "QZ-78": "codes2.txt",
    "KR-12": "codes3.txt",
    "growing vegetables in the sun": "garden.txt",
    "what happens to reefs in a heat wave": "ocean.txt",
    "does working out help with hypertension": "health.txt",
    "headset cannot connect": "codes.txt",
    "Okonkwo": "memo.txt",
    "ticket 5522": "memo2.txt",
    "who handles invoices problems": "memo.txt",
    "cheaper to run the business": "finance2.txt",
}


def test_hybrid_is_at_least_as_good_as_each_single_mode(tmp_path: Path, embedder: Embedder) -> None:
    store = make_store(tmp_path, embedder)
    store.ingest([write_corpus(tmp_path / "facts", FACTS)])

    def hits_at(mode: str, k: int) -> int:
        found = 0
        for query, expected in QUERIES.items():
            sources = [h.source for h in store.search("UserData", query, k=k, mode=mode)]
            found += any(s.endswith(expected) for s in sources)
        return found

    for k in (3, 5):  # at k=1 fusion can trail the stronger single mode; from k=3 on it must not
        scores = {mode: hits_at(mode, k) for mode in ("vector", "bm25", "hybrid")}
        assert scores["hybrid"] >= max(scores["vector"], scores["bm25"]), (k, scores)
    assert hits_at("hybrid", 3) == len(QUERIES)


def test_keyword_index_is_persisted(tmp_path: Path, embedder: Embedder) -> None:
    store = make_store(tmp_path, embedder, db_type="faiss")
    store.ingest([write_corpus(tmp_path / "docs", TOPICS)])
    store.close()
    fresh = make_store(tmp_path, embedder, db_type="faiss")
    opened = fresh.registry.open(fresh.registry.resolve(None, None))
    assert opened.keywords.is_current(opened.catalog.generation())
    assert fresh.search("UserData", "XJ-4471", k=1, mode="bm25")[0].source.endswith("router.txt")


@pytest.mark.parametrize("db_type", STORES)
def test_half_written_version_is_reconciled_on_open(tmp_path: Path, embedder: Embedder, db_type: str) -> None:
    """The state a crash between 'chunks added' and 'document recorded' leaves behind."""
    from h2ogpt.documents.stores.base import Chunk

    store = make_store(tmp_path, embedder, db_type)
    store.ingest([Document("Version one of the handbook.", metadata={"source": "handbook.txt"})])
    opened = store.registry.open(store.registry.resolve(None, None))
    opened.catalog.mark_pending(["handbook.txt"])
    meta = {"source": "handbook.txt", "content_sha256": "f" * 64}
    opened.store.add([Chunk("half-written", "Version two, never recorded.", meta)], embedder.embed(["v2"]))
    opened.store.flush()
    store.close()

    fresh = make_store(tmp_path, embedder, db_type)
    texts = [h.text for h in fresh.search("UserData", "handbook version", k=5)]
    assert texts == ["Version one of the handbook."]
    assert_consistent(fresh)


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local cross-encoder folder (MiniLM with an untrained head: enough to test the plumbing)."""
    from sentence_transformers import CrossEncoder

    folder, _ = embedding_model_path("")
    target = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(folder, device="cpu", local_files_only=True, num_labels=1).save(str(target))
    return target


def test_cross_encoder_reranks_fused_hits(
    tmp_path: Path, embedder: Embedder, cross_encoder_dir: Path
) -> None:
    store = make_store(tmp_path, embedder, cross_encoder_model=str(cross_encoder_dir))
    store.ingest([write_corpus(tmp_path / "docs", TOPICS)])
    hits = store.search("UserData", "volcano eruption", k=3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    expected = store.reranker.model.predict([("volcano eruption", h.text) for h in hits])  # type: ignore[union-attr]
    assert [round(float(s), 4) for s in expected] == [round(h.score, 4) for h in hits]


def test_missing_cross_encoder_is_a_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    from h2ogpt.errors import ModelNotFoundError

    store = make_store(tmp_path, embedder, cross_encoder_model=str(tmp_path / "no-such-model"))
    store.ingest([Document("text", metadata={"source": "a.txt"})])
    with pytest.raises(ModelNotFoundError, match="cross_encoder_model"):
        store.search("UserData", "text")


@pytest.mark.parametrize("db_type", STORES)
def test_document_chunks_in_reading_order(tmp_path: Path, embedder: Embedder, db_type: str) -> None:
    store = make_store(tmp_path, embedder, db_type)
    long_text = " ".join(f"Paragraph {i} of the long report talks about item {i}." for i in range(40))
    store.ingest(
        [
            Document(long_text, metadata={"source": "report.txt"}),
            Document("A short note.", metadata={"source": "note.txt"}),
        ]
    )
    chunks = store.document_chunks("UserData", ["report.txt"])
    assert len(chunks) > 3 and {c.source for c in chunks} == {"report.txt"}
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text.startswith("Paragraph 0")
    assert len(store.document_chunks("UserData", limit=2)) == 2
    assert {c.source for c in store.document_chunks("UserData")} == {"report.txt", "note.txt"}
