"""Document collections: list/create/delete, upload/list/delete documents, search.

A thin face over ``h2ogpt.documents.DocumentLibrary``: collections are the user's (see
``identity``) plus the shared ones.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from h2ogpt.errors import H2OGPTError, UpstreamError
from openai_server.errors import ERROR_RESPONSES, ApiError, bad_request
from openai_server.identity import request_user
from openai_server.state import ServerState

router = APIRouter(tags=["collections"])
MAX_FILES = 100


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=10_000, description="What to look for.")
    k: int = Field(10, ge=1, le=100, description="How many chunks to return, best first.")
    sources: list[str] | None = Field(None, description="Only chunks of these documents.")
    mode: str = Field("hybrid", pattern="^(hybrid|vector|bm25)$", description="hybrid, vector or bm25.")


class CreateCollection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Letters, digits, _ and -; 3 to 63 characters.")


def _store(request: Request):
    state: ServerState = request.app.state.server
    store = state.pipeline().documents
    if store is None:
        raise ApiError(
            404, "documents are switched off on this server (--langchain_mode=LLM)", code="no_documents"
        )
    return store


async def _call(request: Request, work, *args: Any) -> Any:
    """Run a blocking store call in a worker thread; its user errors become a 400/404, an
    unreachable Chroma server or database a 503."""
    state: ServerState = request.app.state.server
    try:
        return await anyio.to_thread.run_sync(work, *args, limiter=state.limiter)
    except UpstreamError as exc:
        raise ApiError(503, str(exc), code="store_unavailable") from None
    except H2OGPTError as exc:
        status = 404 if "no collection" in str(exc) or "no such" in str(exc) else 400
        raise ApiError(status, str(exc), code="not_found" if status == 404 else "invalid_value") from None


@router.get("/v1/collections", responses=ERROR_RESPONSES)
async def list_collections(request: Request) -> JSONResponse:
    """The collections this caller can use, with their sizes."""
    infos = await _call(request, _store(request).list_collections, request_user(request))
    data = [
        {"name": c.name, "personal": c.personal, "documents": c.documents, "chunks": c.chunks,
         "embedding_model": c.embedding_model}
        for c in infos
    ]  # fmt: skip
    return JSONResponse({"object": "list", "data": data})


@router.post("/v1/collections", responses=ERROR_RESPONSES)
async def create_collection(body: CreateCollection, request: Request) -> JSONResponse:
    """A new collection, private to the caller when the server has API keys."""
    info = await _call(request, _store(request).create_collection, body.name, request_user(request))
    return JSONResponse({"name": info.name, "personal": info.personal}, status_code=201)


@router.delete("/v1/collections/{name}", responses=ERROR_RESPONSES)
async def delete_collection(name: str, request: Request) -> JSONResponse:
    await _call(request, _store(request).delete_collection, name, request_user(request))
    return JSONResponse({"name": name, "deleted": True})


@router.get("/v1/collections/{name}/documents", responses=ERROR_RESPONSES)
async def list_documents(name: str, request: Request) -> JSONResponse:
    docs = await _call(request, _store(request).list_documents, name, request_user(request))
    data = [{"source": d.source, "chunks": d.chunks, "pages": d.pages} for d in docs]
    return JSONResponse({"object": "list", "data": data})


@router.post("/v1/collections/{name}/documents", responses=ERROR_RESPONSES)
async def upload_documents(name: str, files: list[UploadFile], request: Request) -> JSONResponse:
    """Upload files (multipart field ``files``); a bad file fails alone (see ``documents``)."""
    if not files or len(files) > MAX_FILES:
        raise bad_request(f"files: upload between 1 and {MAX_FILES} files", "files")
    store, user = _store(request), request_user(request)
    files_read = [(f.filename, f.file) for f in files]
    report = await _call(request, lambda: store.ingest_uploads(files_read, name, user))
    return JSONResponse(report.to_dict())


@router.delete("/v1/collections/{name}/documents", responses=ERROR_RESPONSES)
async def delete_documents(
    name: str, request: Request, source: Annotated[list[str], Query()]
) -> JSONResponse:
    """Delete documents by ``source`` (query parameter, repeatable), as listed."""
    deleted = await _call(request, _store(request).delete_documents, source, name, request_user(request))
    return JSONResponse({"deleted": deleted})


@router.post("/v1/collections/{name}/search", responses=ERROR_RESPONSES)
async def search(name: str, body: SearchRequest, request: Request) -> JSONResponse:
    """The best chunks for a query: ``{"data": [{"text", "source", "page", "start", "end", "score"}]}``
    (``start``/``end``: seconds into a recording, for transcripts of audio and video)."""
    store = _store(request)
    hits = await _call(
        request,
        lambda: store.search(name, body.query, body.k, body.sources, body.mode, request_user(request)),
    )
    data = [
        {"text": h.text, "source": h.source, "page": h.page, "start": h.start, "end": h.end, "score": h.score}
        for h in hits
    ]
    return JSONResponse({"object": "list", "data": data})
