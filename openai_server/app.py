"""The FastAPI application: routes, error handlers and middleware over one ServerState."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

import h2ogpt
from openai_server import (
    routes_audio,
    routes_chat,
    routes_collections,
    routes_completions,
    routes_embeddings,
    routes_images,
    routes_models,
)
from openai_server.auth import AuthMiddleware, load_api_keys
from openai_server.bridge import ClientDisconnected
from openai_server.errors import install_error_handlers
from openai_server.extras import unknown_field_hint
from openai_server.limits import (
    MAX_BODY_BYTES,
    AdmissionMiddleware,
    BodyLimitMiddleware,
    chat_body_bytes,
)
from openai_server.state import ServerState

# FastAPI's OpenTelemetry instrumentation: off, nothing leaves the machine
NO_TELEMETRY = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


async def _client_gone(_: Request, __: Exception) -> Response:
    return Response(status_code=499)  # nobody reads it: the client closed the connection


def create_app(state: ServerState, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over ``state``; starting the app starts loading the model if it is not loaded."""
    keys = load_api_keys(state.settings.api_keys)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start_loading()
        yield

    app = FastAPI(
        title="h2oGPT OpenAI-compatible API",
        version=h2ogpt.__version__,
        description="OpenAI's chat, completions, models, embeddings, audio and image endpoints over the h2oGPT core. "
        "Extra body fields are h2oGPT's own request fields.",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,  # type: ignore[arg-type]
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: not offline
        redoc_url=None,
    )
    app.state.server = state
    install_error_handlers(app, unknown_field_hint)
    app.add_exception_handler(ClientDisconnected, _client_gone)
    routes = (
        routes_chat,
        routes_completions,
        routes_models,
        routes_embeddings,
        routes_collections,
        routes_audio,
        routes_images,
    )
    for module in routes:
        app.include_router(module.router)
    # added last = outermost: keys are checked first, then the body size, then admission
    app.add_middleware(AdmissionMiddleware, max_in_flight=state.settings.max_queue)
    chat_limit = chat_body_bytes(state.settings.max_image_bytes, max_body_bytes)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=max_body_bytes, path_limits={"/v1/chat/completions": chat_limit}
    )
    app.add_middleware(AuthMiddleware, keys=keys)
    return app
