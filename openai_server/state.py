"""What one running server holds: Settings, the pipeline (loaded in the background) and
the embedder (loaded on first use).

The chat model loads in a thread at startup so that ``/health`` answers at once; until
it is ready the model endpoints answer 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import anyio

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.documents.embeddings import Embedder, embedding_model_path
from h2ogpt.errors import H2OGPTError
from h2ogpt.settings import Settings
from openai_server.errors import ApiError

log = logging.getLogger(__name__)

MODEL_ALIAS = "h2ogpt"  # accepted in place of the served model id


def load_pipeline(settings: Settings) -> Pipeline:
    """The model, the document collections and the pipeline, as the Settings ask (slow)."""
    from h2ogpt.core import build_pipeline

    return build_pipeline(settings)


class ServerState:
    """The loaded (or loading) models of one server, shared by all its requests."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline | None = None,
        loader: Callable[[Settings], Pipeline] = load_pipeline,
    ) -> None:
        self.settings = settings
        self.created = int(time.time())
        self.limiter = anyio.CapacityLimiter(settings.max_queue)
        self._pipeline = pipeline
        self._loader = loader
        self._load_thread: threading.Thread | None = None
        self.load_error: str | None = None
        self.user_error = False  # the load failed because of the user's input (a bad flag)
        self.on_load_failed: Callable[[], None] | None = None
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()

    # --- chat model ------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Load the pipeline in a background thread, unless it is loaded or loading."""
        if self._pipeline is not None or self._load_thread is not None:
            return
        self._load_thread = threading.Thread(target=self._load, name="h2ogpt-model-loader", daemon=True)
        self._load_thread.start()

    def _load(self) -> None:
        started = time.monotonic()
        try:
            pipeline = self._loader(self.settings)
        except H2OGPTError as exc:
            self.load_error, self.user_error = str(exc), True
            log.error("error: %s", exc)
        except Exception as exc:
            self.load_error = f"the model failed to load: {exc}"
            log.exception("the model failed to load")
        else:
            self._pipeline = pipeline
            log.info(
                "API ready: serving %s (loaded in %.1f s)",
                pipeline.backend.info.name,
                time.monotonic() - started,
            )
            return
        if self.on_load_failed is not None:
            self.on_load_failed()

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def wait_loaded(self, timeout: float | None = None) -> bool:
        if self._load_thread is not None:
            self._load_thread.join(timeout)
        return self.loaded

    def pipeline(self) -> Pipeline:
        """The pipeline; 503 while it loads or after it failed to."""
        if self._pipeline is not None:
            return self._pipeline
        if self.load_error:
            raise ApiError(503, f"the model is not available: {self.load_error}", code="model_unavailable")
        raise ApiError(
            503,
            "the model is still loading; retry shortly",
            code="model_loading",
            headers={"Retry-After": "5"},
        )

    @property
    def model_id(self) -> str | None:
        return self._pipeline.backend.info.name if self._pipeline is not None else None

    def chat_model(self, requested: str | None) -> str:
        """The served model id for a request's ``model`` (empty or the alias: the served one)."""
        served = self.pipeline().backend.info.name
        if requested in (None, "", served, MODEL_ALIAS):
            return served
        if requested == self.embedding_model_id():
            raise ApiError(
                400, f"model '{requested}' only makes embeddings", param="model", code="wrong_model"
            )
        raise ApiError(
            404,
            f"model '{requested}' does not exist; this server serves '{served}'",
            param="model",
            code="model_not_found",
        )

    # --- embeddings ------------------------------------------------------------------------
    def embedding_model_id(self) -> str | None:
        """The embedding model's id, known without loading it; None if none is installed."""
        if self._embedder is not None:
            return self._embedder.name
        try:
            return embedding_model_path(self.settings.hf_embedding_model)[1]
        except H2OGPTError:
            return None

    def embedder(self) -> Embedder:
        """The embedder, loaded once (blocking: call it from a worker thread)."""
        with self._embedder_lock:
            if self._embedder is None:
                documents = self._pipeline.documents if self._pipeline is not None else None
                try:  # one model: the document collections' embedder when they are on
                    self._embedder = (
                        documents.embedder if documents is not None else Embedder.from_settings(self.settings)
                    )
                except H2OGPTError as exc:
                    raise ApiError(
                        503, f"embeddings are not available: {exc}", code="model_unavailable"
                    ) from None
            return self._embedder
