"""The page: saved chats in the sidebar, the Chat and Documents tabs, and the login.

``build_ui`` lays the page out and wires each control to its handler; ``launch_ui``
serves it. Nothing here generates, retrieves or scales: the handlers call the core.
"""

from __future__ import annotations

import logging

import gradio as gr

from gradio_utils.chat_view import ChatHandlers, build_controls
from gradio_utils.context import UiContext
from gradio_utils.documents_view import DocumentsHandlers
from gradio_utils.saved_chats_view import SavedChatsHandlers
from h2ogpt.pipeline import Pipeline
from h2ogpt.settings import Settings
from h2ogpt.storage import ChatStore
from h2ogpt.users import Accounts
from h2ogpt.version import __version__

log = logging.getLogger(__name__)

# System fonts only: Gradio's default theme would fetch Google Fonts, and the page must load
# with no network at all.
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "Consolas", "monospace"]
)
CSS = """
.sources { font-size: 0.9em; border-top: 1px solid var(--border-color-primary); margin-top: 0.5em; }
.sources ul { margin: 0.2em 0 0 1em; }
a.citation { text-decoration: none; font-weight: 600; }
"""


def build_ui(ctx: UiContext) -> gr.Blocks:
    saved = SavedChatsHandlers(ctx)
    docs = DocumentsHandlers(ctx) if ctx.documents is not None else None
    models = ctx.pipelines
    with gr.Blocks(title="h2oGPT", analytics_enabled=False) as demo:
        conversations = gr.State([[] for _ in models])
        chat_id = gr.State(None)
        with gr.Sidebar(label="Saved chats", open=True):
            gr.Markdown(f"### h2oGPT {__version__}")
            user_line = gr.Markdown(elem_id="user-line")
            new_chat = gr.Button("New chat", elem_id="new-chat")
            saved_list = gr.Radio([], label="Saved chats", elem_id="saved-chats")
            title = gr.Textbox(label="Title", elem_id="chat-title")
            with gr.Row():
                rename = gr.Button("Rename", size="sm", elem_id="rename-chat")
                delete = gr.Button("Delete", size="sm", variant="stop", elem_id="delete-chat")
            export = gr.Button("Export chats", size="sm", elem_id="export-chats")
            export_file = gr.File(
                label="Exported chats", visible=False, interactive=False, height=80, elem_id="export-file"
            )
            import_file = gr.UploadButton("Import chats", file_types=[".json"], size="sm")
        with gr.Tab("Chat", id="chat"):
            gr.Markdown(
                "Model: " + ", ".join(f"**{p.name}**" for p in models),
                elem_id="model-in-use",
            )
            with gr.Row():
                chatbots = [
                    gr.Chatbot(
                        label=pipeline.name,
                        buttons=["copy", "copy_all"],
                        height=520 if len(models) == 1 else 440,
                        elem_id=f"chatbot-{i}",
                        sanitize_html=True,
                        feedback_options=None,
                    )
                    for i, pipeline in enumerate(models)
                ]
            with gr.Row():
                question = gr.Textbox(
                    placeholder="Ask anything (Enter sends, Shift+Enter: new line)",
                    show_label=False,
                    scale=8,
                    lines=1,
                    max_lines=8,
                    elem_id="question",
                )
                send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                stop = gr.Button("Stop", variant="stop", scale=1, elem_id="stop")
            with gr.Row():
                regenerate = gr.Button("Regenerate", size="sm", elem_id="regenerate")
                undo = gr.Button("Undo", size="sm", elem_id="undo")
                clear = gr.Button("Clear", size="sm", elem_id="clear")
            controls = build_controls(ctx)
            chat = ChatHandlers(ctx, question, conversations, chat_id, controls)
        if docs is not None:
            with gr.Tab("Documents", id="documents"):
                with gr.Row():
                    doc_collection = gr.Dropdown([], label="Collection", elem_id="docs-collection", scale=2)
                    new_name = gr.Textbox(label="New collection", placeholder="name", scale=2)
                    create = gr.Button("Create", scale=1, elem_id="create-collection")
                uploads = gr.File(
                    file_count="multiple", label="Files to add", elem_id="upload-files", height=140
                )
                with gr.Row():
                    password = gr.Textbox(
                        label="Password for encrypted files",
                        type="password",
                        scale=2,
                        elem_id="upload-password",
                    )
                    add = gr.Button("Add to collection", variant="primary", scale=3, elem_id="add-documents")
                ingest_status = gr.Markdown(elem_id="ingest-status")
                doc_table = gr.Dataframe(
                    headers=["Document", "Pages", "Chunks"],
                    interactive=False,
                    elem_id="doc-list",
                    label="Documents",
                )
                with gr.Row():
                    to_delete = gr.Dropdown([], multiselect=True, label="Delete documents", scale=4)
                    delete_docs = gr.Button("Delete", variant="stop", scale=1)

        chat_state = [conversations, chat_id]
        answer_outputs = [question, conversations, chat_id, *chatbots]
        refresh_saved = dict(fn=saved.choices, inputs=[chat_id], outputs=[saved_list])

        asked = [
            trigger(chat.ask, chat.inputs(), answer_outputs, concurrency_limit=None)
            for trigger in (question.submit, send.click)
        ]
        regenerated = regenerate.click(chat.regenerate, chat.inputs(), answer_outputs, concurrency_limit=None)
        for event in (*asked, regenerated):
            event.then(**refresh_saved)
        stop.click(chat.stop, None, None, queue=False)
        undo.click(chat.undo, chat_state, [*chat_state, *chatbots]).then(**refresh_saved)
        for button in (clear, new_chat):
            button.click(chat.clear, None, [*chat_state, *chatbots]).then(**refresh_saved)

        saved_list.input(saved.open, [saved_list], [*chat_state, title, *chatbots])
        rename.click(saved.rename, [chat_id, title], [saved_list])
        delete.click(saved.delete, [chat_id], [saved_list, *chat_state, title, *chatbots])
        export.click(saved.export, None, [export_file])
        import_file.upload(saved.import_file, [import_file], [saved_list])

        def on_load(request: gr.Request):
            return saved.choices(request), _user_line(ctx, request)

        demo.load(on_load, None, [saved_list, user_line])

        if docs is not None:
            doc_outputs = [doc_collection, controls.collection, doc_table, to_delete]
            refresh_docs = dict(
                fn=docs.refresh, inputs=[doc_collection, controls.collection], outputs=doc_outputs
            )
            demo.load(**refresh_docs)
            doc_collection.input(**refresh_docs)
            create.click(docs.create, [new_name], [doc_collection, new_name]).then(**refresh_docs)
            uploaded = add.click(
                docs.upload, [uploads, doc_collection, password], [ingest_status], concurrency_limit=2
            )
            uploaded = uploaded.then(**refresh_docs).then(lambda: None, None, [uploads])
            # the chat now answers from the collection just filled
            uploaded = uploaded.then(lambda name: name, [doc_collection], [controls.collection])
            uploaded.then(docs.chat_documents, [controls.collection], [controls.document_choice])
            delete_docs.click(docs.delete, [to_delete, doc_collection], None).then(**refresh_docs)
            controls.collection.input(docs.chat_documents, [controls.collection], [controls.document_choice])
    return demo


def _user_line(ctx: UiContext, request: gr.Request) -> str:
    user = ctx.user(request)
    return f"Signed in as **{user.name}**" if ctx.accounts.enabled else f"User: **{user.name}** (no login)"


def make_context(settings: Settings, pipelines: list[Pipeline]) -> UiContext:
    return UiContext(settings, pipelines, ChatStore.for_settings(settings), Accounts.from_settings(settings))


def launch_ui(settings: Settings, pipelines: list[Pipeline], block: bool = True) -> tuple[gr.Blocks, str]:
    """Serve the UI on --server_name:--server_port; returns the Blocks and the local URL
    (``block``: serve until interrupted)."""
    ctx = make_context(settings, pipelines)
    demo = build_ui(ctx)
    demo.queue(default_concurrency_limit=8)
    _, url, share_url = demo.launch(
        server_name=settings.server_name,
        server_port=settings.server_port,
        share=settings.share,
        auth=ctx.accounts.check if ctx.accounts.enabled else None,
        auth_message="h2oGPT: sign in" + (" (a new name signs up)" if settings.auth_access == "open" else ""),
        root_path=settings.root_path or None,
        prevent_thread_lock=True,
        theme=THEME,
        css=CSS,
        footer_links=[],
        quiet=True,
        show_error=True,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    log.info("Browser UI: %s%s", url, f" (public: {share_url})" if share_url else "")
    if block:
        demo.block_thread()
    return demo, url
