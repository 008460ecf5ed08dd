"""Document collections through the API: upload, list, search, answer with sources, delete."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.documents.library import DocumentLibrary
from support.api_fixtures import API_KEYS, start
from support.paths import SHARED_DATA

DOCS = SHARED_DATA / "docs"


@pytest.fixture(scope="module")
def doc_server(settings, backend, tmp_path_factory) -> Iterator:
    doc_settings = settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("api-docs"), "top_k_docs": 3}
    )
    store = DocumentLibrary(doc_settings)
    with start(doc_settings, Pipeline(doc_settings, backend, store), api_keys=",".join(API_KEYS)) as handle:
        yield handle
    store.close()


def client_for(server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def upload(http: httpx.Client, collection: str, *names: str) -> httpx.Response:
    files = [("files", (name, (DOCS / name).read_bytes())) for name in names]
    return http.post(f"/v1/collections/{collection}/documents", files=files)


@pytest.mark.shared_data
def test_upload_list_search_answer_delete(doc_server):
    with client_for(doc_server, API_KEYS[0]) as http:
        report = upload(http, "UserData", "fake-memo.pdf", "append-page-content-damaged.pdf").json()
        statuses = {Path(d["source"]).name: d["status"] for d in report["documents"]}
        assert statuses == {"fake-memo.pdf": "added", "append-page-content-damaged.pdf": "failed"}
        listed = http.get("/v1/collections/UserData/documents").json()["data"]
        assert [Path(d["source"]).name for d in listed] == ["fake-memo.pdf"]
        again = upload(http, "UserData", "fake-memo.pdf").json()["documents"]
        assert [d["status"] for d in again] == ["unchanged"], "the same upload is recognised"

        found = http.post(
            "/v1/collections/UserData/search", json={"query": "How many trucks?", "k": 2}
        ).json()
        assert found["data"] and set(found["data"][0]) == {"text", "source", "page", "start", "end", "score"}
        assert "3 trucks" in found["data"][0]["text"] and found["data"][0]["page"] == 1

        chat = openai.OpenAI(base_url=doc_server.base_url, api_key=API_KEYS[0], max_retries=0)
        reply = chat.chat.completions.create(
            model="h2ogpt",
            messages=[{"role": "user", "content": "How many trucks were used?"}],
            max_tokens=24,
            extra_body={"langchain_mode": "UserData"},
        )
        sources = reply.model_extra["sources"]
        assert sources[0]["source"].endswith("fake-memo.pdf") and sources[0]["page"] == 1

        gone = http.delete("/v1/collections/UserData/documents", params={"source": listed[0]["source"]})
        assert gone.json() == {"deleted": 1}
        assert http.get("/v1/collections/UserData/documents").json()["data"] == []


@pytest.mark.shared_data
def test_each_key_has_its_own_mydata(doc_server):
    with client_for(doc_server, API_KEYS[0]) as one, client_for(doc_server, API_KEYS[1]) as two:
        assert upload(one, "MyData", "fake-memo.pdf").status_code == 200
        mine = one.get("/v1/collections/MyData/documents").json()["data"]
        theirs = two.get("/v1/collections/MyData/documents").json()["data"]
        assert len(mine) == 1 and theirs == []
        hits = two.post("/v1/collections/MyData/search", json={"query": "trucks", "k": 3}).json()["data"]
        assert hits == []


def test_collection_errors(doc_server):
    with client_for(doc_server, API_KEYS[0]) as http:
        assert http.post("/v1/collections/NoSuchOne/search", json={"query": "x"}).status_code == 404
        assert http.post("/v1/collections/UserData/search", json={"query": ""}).status_code == 400
        assert http.post("/v1/collections", json={"name": "x!"}).status_code == 400
        created = http.post("/v1/collections", json={"name": "team-notes"})
        assert created.status_code == 201
        assert "team-notes" in {c["name"] for c in http.get("/v1/collections").json()["data"]}
        assert http.delete("/v1/collections/team-notes").json()["deleted"] is True
    with httpx.Client(base_url=doc_server.url) as anonymous:
        assert anonymous.get("/v1/collections").status_code == 401


def test_embeddings_use_the_collections_model(doc_server):
    with client_for(doc_server, API_KEYS[0]) as http:
        assert http.post("/v1/embeddings", json={"input": "hello"}).status_code == 200
    assert doc_server.state.embedder() is doc_server.state.pipeline().documents.embedder, (
        "one model, loaded once"
    )


def test_an_unreachable_store_is_a_503_naming_it(settings, backend, tmp_path):
    """A Chroma server that is down is the deployment's fault: 503 with the flag to check."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = settings.model_copy(update={"data_dir": tmp_path, "chroma_url": closed})
    store = DocumentLibrary(down)
    with start(down, Pipeline(down, backend, store)) as handle, httpx.Client(base_url=handle.url) as http:
        reply = http.post("/v1/collections/UserData/search", json={"query": "anything"})
    store.close()
    assert reply.status_code == 503, reply.text
    assert "chroma_url" in reply.json()["error"]["message"]
