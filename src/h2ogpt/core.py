"""Build the core a face needs from the Settings: backend, document collections, pipeline."""

from __future__ import annotations

import logging

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.base import Backend
from h2ogpt.backends.presets import with_preset_defaults
from h2ogpt.backends.selection import create_backend
from h2ogpt.settings import NO_DOCUMENTS, Settings

log = logging.getLogger(__name__)


def open_documents(settings: Settings):
    """The document collections, with ``--user_path`` ingested into UserData (unchanged
    files are skipped, so a restart is quick); None when ``--langchain_mode=LLM``."""
    if settings.langchain_mode == NO_DOCUMENTS and not settings.user_path:
        return None
    from h2ogpt.documents.collections import SHARED_COLLECTION
    from h2ogpt.documents.library import DocumentLibrary

    store = DocumentLibrary(settings)
    if settings.user_path:
        log.info("Ingesting %s into %s", settings.user_path, SHARED_COLLECTION)
        report = store.ingest([settings.user_path], collection=SHARED_COLLECTION, show_progress=True)
        for failure in report.failed:
            log.warning("Not ingested: %s: %s", failure.source, failure.reason)
        log.info(
            "%s: %d files ok, %d failed, %d new chunks",
            SHARED_COLLECTION,
            len(report.ok),
            len(report.failed),
            report.chunks_added,
        )
    return store


def build_pipeline(settings: Settings) -> Pipeline:
    """The answer pipeline over the backend and the collections the Settings ask for."""
    settings = with_preset_defaults(settings)
    return Pipeline(settings, create_backend(settings), open_documents(settings))


def build_pipelines(settings: Settings) -> list[Pipeline]:
    """One pipeline per model of ``--model_lock`` (just one without it), sharing the
    document collections; entries naming the same model share its backend."""
    from h2ogpt.answering.model_lock import backend_identity, locked_models

    models = locked_models(settings)
    documents = open_documents(settings)
    backends: dict[tuple, Backend] = {}
    pipelines = []
    for name, model_settings in models:
        model_settings = with_preset_defaults(model_settings)
        key = backend_identity(model_settings)
        if key not in backends:
            backends[key] = create_backend(model_settings)
        pipelines.append(Pipeline(model_settings, backends[key], documents, name))
    return pipelines
