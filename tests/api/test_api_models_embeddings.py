"""GET /v1/models, /health, /version and POST /v1/embeddings."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest

import h2ogpt

pytest_plugins = ["support.api_fixtures"]

EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def test_models_list_and_retrieve(client, model_id):
    listed = client.models.list()
    ids = [m.id for m in listed.data]
    assert ids == [model_id, EMBEDDING_MODEL, "whisper-tiny.en", "piper-en_US-joe-medium"]  # + speech
    for model in listed.data:
        assert model.object == "model" and model.owned_by == "h2ogpt" and model.created > 0
        assert client.models.retrieve(model.id).id == model.id
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4")
    assert caught.value.body["code"] == "model_not_found"


def test_health_and_version(http, model_id):
    health = http.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model_loaded": True, "model": model_id, "error": None}
    assert http.get("/version").json() == {"version": h2ogpt.__version__}


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_embeddings_with_the_openai_client(client):
    texts = ["A cat sits on the mat.", "A kitten rests on a rug.", "Quarterly revenue grew by 4%."]
    reply = client.embeddings.create(model=EMBEDDING_MODEL, input=texts)  # the client asks for base64
    assert reply.model == EMBEDDING_MODEL and [d.index for d in reply.data] == [0, 1, 2]
    vectors = [d.embedding for d in reply.data]
    assert all(len(v) == 384 and abs(_norm(v) - 1) < 1e-3 for v in vectors)
    similar = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    unrelated = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert similar > unrelated
    assert reply.usage.prompt_tokens == reply.usage.total_tokens > 0


def test_embeddings_float_and_base64_agree(http):
    as_float = http.post("/v1/embeddings", json={"input": "hello", "encoding_format": "float"}).json()
    as_b64 = http.post("/v1/embeddings", json={"input": "hello", "encoding_format": "base64"}).json()
    raw = base64.b64decode(as_b64["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert as_float["object"] == "list" and as_float["data"][0]["object"] == "embedding"
    assert decoded == pytest.approx(as_float["data"][0]["embedding"], abs=1e-6)
    same_size = http.post("/v1/embeddings", json={"input": ["hello"], "dimensions": 384})
    assert same_size.status_code == 200


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ({"input": [1, 2, 3]}, 400, "token-id"),
        ({"input": [[1, 2]]}, 400, "token-id"),
        ({"input": ""}, 400, "empty"),
        ({"input": []}, 400, "non-empty"),
        ({"input": "hi", "dimensions": 128}, 400, "384-dimensional"),
        ({"input": "hi", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"input": "hi", "model": "text-embedding-3-small"}, 404, "does not exist"),
        ({"input": "hi", "model": "SmolLM2-135M-Instruct"}, 400, "chat model"),
        ({"input": ["x"] * 2049}, 400, "at most 2048"),
    ],
)
def test_embedding_errors(http, body, status, fragment):
    reply = http.post("/v1/embeddings", json=body)
    assert reply.status_code == status, reply.text
    assert fragment in reply.json()["error"]["message"]
