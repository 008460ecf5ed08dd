"""The Documents tab: pick or create a collection, upload files (with progress and
per-file errors), list and delete documents. Everything goes through DocumentLibrary."""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from gradio_utils.chat_controls import ChatControls
from gradio_utils.context import UiContext
from h2ogpt.documents.collections import SHARED_COLLECTION
from h2ogpt.documents.ingest import IngestProgress, IngestReport
from h2ogpt.errors import H2OGPTError
from h2ogpt.settings import NO_DOCUMENTS

MAX_UPLOAD_FILES = 100
STATUS_ORDER = ("added", "replaced", "unchanged", "failed")


def _name(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def describe_report(report: IngestReport) -> str:
    """What an upload did, file by file: added, unchanged, or why it failed."""
    counts = Counter(result.status for result in report.results)
    summary = ", ".join(
        f"{counts[status]} {status}" for status in STATUS_ORDER if counts[status] or status == "failed"
    )
    lines = [f"**{report.collection}:** {summary}"]
    if any("password" in result.reason for result in report.failed):
        lines.append("Encrypted files: give their password below and add them again.")
    for result in report.results:
        if result.status == "failed":
            lines.append(f"- **failed** `{_name(result.source)}`: {result.reason}")
        else:
            lines.append(f"- {result.status} `{_name(result.source)}`: {result.chunks} chunks")
    return "\n".join(lines)


class DocumentsHandlers:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    @property
    def store(self):
        return self.ctx.documents

    def collection_names(self, request: gr.Request) -> list[str]:
        return [c.name for c in self.store.list_collections(self.ctx.user(request).documents)]

    def refresh(self, collection: str | None, chat_collection: str | None, request: gr.Request):
        """Collection choices (documents tab, chat), the document table and choices.

        The chat starts on --langchain_mode when that collection has documents, else on
        LLM (no documents).
        """
        infos = self.store.list_collections(self.ctx.user(request).documents)
        names = [c.name for c in infos]
        collection = collection if collection in names else (names[0] if names else None)
        if chat_collection not in [NO_DOCUMENTS, *names]:
            filled = {c.name for c in infos if c.documents}
            mode = self.ctx.settings.langchain_mode
            chat_collection = mode if mode in filled else NO_DOCUMENTS
        table, sources = self._documents(collection, request)
        return (
            gr.update(choices=names, value=collection),
            gr.update(choices=[NO_DOCUMENTS, *names], value=chat_collection),
            table,
            gr.update(choices=[(_name(s), s) for s in sources], value=[]),
        )

    def chat_documents(self, chat_collection: str | None, request: gr.Request):
        """The documents the chat may be restricted to, for its chosen collection."""
        if not chat_collection or chat_collection == NO_DOCUMENTS:
            return gr.update(choices=[], value=[])
        _, sources = self._documents(chat_collection, request)
        return gr.update(choices=[(_name(s), s) for s in sources], value=[])

    def _documents(self, collection: str | None, request: gr.Request) -> tuple[list[list], list[str]]:
        if not collection:
            return [], []
        try:
            docs = self.store.list_documents(collection, self.ctx.user(request).documents)
        except H2OGPTError as exc:
            gr.Warning(str(exc))
            return [], []
        return [[_name(d.source), d.pages, d.chunks] for d in docs], [d.source for d in docs]

    def create(self, name: str, request: gr.Request):
        """A new collection, private to the logged-in user (shared without a login)."""
        try:
            self.store.create_collection((name or "").strip(), self.ctx.user(request).documents)
            gr.Info(f"Created collection {name.strip()}.")
        except H2OGPTError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip()
        names = self.collection_names(request)
        return gr.update(choices=names, value=name.strip()), ""

    def upload(
        self, files: list[str] | None, collection: str | None, password: str, request: gr.Request
    ) -> Iterator[str]:
        """Ingest the uploaded files, yielding the progress and then the per-file report.
        ``password`` opens those of them that are encrypted."""
        if not files:
            yield "Choose one or more files first."
            return
        if len(files) > MAX_UPLOAD_FILES:
            yield f"Upload at most {MAX_UPLOAD_FILES} files at once (got {len(files)})."
            return
        collection = collection or SHARED_COLLECTION
        user = self.ctx.user(request).documents
        updates: queue.Queue[IngestProgress] = queue.Queue()
        outcome: dict[str, object] = {}

        def work() -> None:
            try:
                with ExitStack() as stack:
                    handles = [(Path(f).name, stack.enter_context(open(f, "rb"))) for f in files]
                    passwords = {name: password for name, _ in handles} if password else None
                    outcome["report"] = self.store.ingest_uploads(
                        handles, collection, user, updates.put, passwords
                    )
            except (H2OGPTError, OSError) as exc:
                outcome["error"] = str(exc)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        yield f"Adding {len(files)} files to {collection}…"
        while worker.is_alive() or not updates.empty():
            try:
                step = updates.get(timeout=0.25)
            except queue.Empty:
                continue
            yield (
                f"Adding to {collection}: {step.documents_done}/{step.documents_total} files, "
                f"{step.chunks_embedded} chunks embedded (`{_name(step.source)}`)"
            )
        worker.join()
        if "error" in outcome:
            yield f"**Not added:** {outcome['error']}"
            return
        yield describe_report(outcome["report"])

    def delete(self, sources: list[str] | None, collection: str | None, request: gr.Request):
        if not sources or not collection:
            gr.Warning("Choose the documents to delete.")
            return
        try:
            deleted = self.store.delete_documents(sources, collection, self.ctx.user(request).documents)
            gr.Info(f"Deleted {deleted} documents from {collection}.")
        except H2OGPTError as exc:
            gr.Warning(str(exc))


@dataclass
class DocumentsPanel:
    """The Documents tab's components."""

    collection: gr.Dropdown
    new_name: gr.Textbox
    create: gr.Button
    uploads: gr.File
    password: gr.Textbox
    add: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    to_delete: gr.Dropdown
    delete: gr.Button


def layout_documents() -> DocumentsPanel:
    with gr.Row():
        collection = gr.Dropdown([], label="Collection", elem_id="docs-collection", scale=2)
        new_name = gr.Textbox(label="New collection", placeholder="name", scale=2)
        create = gr.Button("Create", scale=1, elem_id="create-collection")
    uploads = gr.File(file_count="multiple", label="Files to add", elem_id="upload-files", height=140)
    with gr.Row():
        password = gr.Textbox(
            label="Password for encrypted files", type="password", scale=2, elem_id="upload-password"
        )
        add = gr.Button("Add to collection", variant="primary", scale=3, elem_id="add-documents")
    status = gr.Markdown(elem_id="ingest-status")
    table = gr.Dataframe(
        headers=["Document", "Pages", "Chunks"], interactive=False, elem_id="doc-list", label="Documents"
    )
    with gr.Row():
        to_delete = gr.Dropdown([], multiselect=True, label="Delete documents", scale=4)
        delete = gr.Button("Delete", variant="stop", scale=1)
    return DocumentsPanel(
        collection, new_name, create, uploads, password, add, status, table, to_delete, delete
    )


def wire_documents(
    demo: gr.Blocks, panel: DocumentsPanel, docs: DocumentsHandlers, controls: ChatControls
) -> None:
    """Collections listed on load, create, upload (then the chat answers from that
    collection), delete; the chat's document choices follow its collection."""
    outputs = [panel.collection, controls.collection, panel.table, panel.to_delete]
    refresh = dict(fn=docs.refresh, inputs=[panel.collection, controls.collection], outputs=outputs)
    demo.load(**refresh)
    panel.collection.input(**refresh)
    panel.create.click(docs.create, [panel.new_name], [panel.collection, panel.new_name]).then(**refresh)
    uploaded = panel.add.click(
        docs.upload, [panel.uploads, panel.collection, panel.password], [panel.status], concurrency_limit=2
    )
    uploaded = uploaded.then(**refresh).then(lambda: None, None, [panel.uploads])
    uploaded = uploaded.then(lambda name: name, [panel.collection], [controls.collection])
    uploaded.then(docs.chat_documents, [controls.collection], [controls.document_choice])
    panel.delete.click(docs.delete, [panel.to_delete, panel.collection], None).then(**refresh)
    controls.collection.input(docs.chat_documents, [controls.collection], [controls.document_choice])
