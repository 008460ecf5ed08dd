"""GET /v1/models, /v1/models/{id}; GET /health (no key needed) and /version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

import h2ogpt
from h2ogpt.speech import speech_services
from openai_server.errors import ERROR_RESPONSES, ApiError
from openai_server.state import ServerState

router = APIRouter()


def _model(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "h2ogpt"}


def served_models(state: ServerState) -> list[dict[str, Any]]:
    """The chat model (503 while it loads), then the embedding, speech-to-text and text-to-speech
    models that are installed and switched on."""
    ids = [state.pipeline().backend.info.name]
    speech = speech_services(state.settings)
    for extra in (state.embedding_model_id(), speech.stt_model_id, speech.tts_model_id):
        if extra:
            ids.append(extra)
    return [_model(i, state.created) for i in ids]


@router.get("/v1/models", responses=ERROR_RESPONSES, tags=["models"])
async def list_models(request: Request) -> JSONResponse:
    """The models this server serves."""
    return JSONResponse({"object": "list", "data": served_models(request.app.state.server)})


@router.get("/v1/models/{model_id:path}", responses=ERROR_RESPONSES, tags=["models"])
async def get_model(model_id: str, request: Request) -> JSONResponse:
    """One served model; 404 for any other id."""
    for model in served_models(request.app.state.server):
        if model["id"] == model_id:
            return JSONResponse(model)
    raise ApiError(404, f"model '{model_id}' does not exist", param="model", code="model_not_found")


@router.get("/health", tags=["status"])
async def health(request: Request) -> JSONResponse:
    """200 when the model is loaded, 503 while it loads or after it failed to (no key needed)."""
    state: ServerState = request.app.state.server
    status = "ok" if state.loaded else ("error" if state.load_error else "loading")
    body = {
        "status": status,
        "model_loaded": state.loaded,
        "model": state.model_id,
        "error": state.load_error,
    }
    return JSONResponse(body, status_code=200 if state.loaded else 503)


@router.get("/version", tags=["status"])
async def version() -> JSONResponse:
    return JSONResponse({"version": h2ogpt.__version__})
