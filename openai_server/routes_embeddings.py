"""POST /v1/embeddings: unit vectors from the local sentence-transformers model."""

from __future__ import annotations

import base64
import struct

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from openai_server.errors import ERROR_RESPONSES, ApiError, bad_request
from openai_server.schemas import EmbeddingRequest
from openai_server.state import ServerState

router = APIRouter()

MAX_INPUTS = 2048


def embedding_texts(body: EmbeddingRequest) -> list[str]:
    """The texts to embed; token ids, empty texts and oversize lists are refused."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts:
        raise bad_request("input: give a text or a non-empty list of texts", "input")
    if len(texts) > MAX_INPUTS:
        raise bad_request(f"input: at most {MAX_INPUTS} texts per request, got {len(texts)}", "input")
    if not all(isinstance(t, str) for t in texts):
        raise bad_request(
            "input: token-id inputs are not supported; send the text", "input", "unsupported_value"
        )
    if any(not t for t in texts):
        raise bad_request("input: texts must not be empty", "input")
    return texts  # type: ignore[return-value]


def check_model(state: ServerState, requested: str | None) -> None:
    served = state.embedding_model_id()
    if served is None:
        raise ApiError(
            503, "no embedding model is installed (see --hf_embedding_model)", code="model_unavailable"
        )
    if requested in (None, "", served):
        return
    if requested == state.model_id:
        raise ApiError(
            400, f"model '{requested}' is a chat model; use '{served}'", param="model", code="wrong_model"
        )
    raise ApiError(
        404,
        f"model '{requested}' does not exist; embeddings use '{served}'",
        param="model",
        code="model_not_found",
    )


def encode(vector: list[float], encoding_format: str | None) -> list[float] | str:
    """float: the numbers; base64: little-endian float32 bytes, as OpenAI sends them."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


@router.post("/v1/embeddings", responses=ERROR_RESPONSES, tags=["embeddings"])
async def create_embeddings(body: EmbeddingRequest, request: Request) -> JSONResponse:
    """Embed one or many texts."""
    state: ServerState = request.app.state.server
    check_model(state, body.model)
    texts = embedding_texts(body)
    embedder = await anyio.to_thread.run_sync(state.embedder, limiter=state.limiter)
    if body.dimensions is not None and body.dimensions != embedder.dimensions:
        raise bad_request(
            f"dimensions: {embedder.name} makes {embedder.dimensions}-dimensional vectors only",
            "dimensions",
            "unsupported_value",
        )
    vectors = await anyio.to_thread.run_sync(embedder.embed, texts, limiter=state.limiter)
    tokens = await anyio.to_thread.run_sync(embedder.count_tokens, texts, limiter=state.limiter)
    data = [
        {"object": "embedding", "index": i, "embedding": encode(v, body.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return JSONResponse({"object": "list", "data": data, "model": embedder.name, "usage": usage})
