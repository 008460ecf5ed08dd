"""The page: saved chats in the sidebar, the Chat and Documents tabs, and the login.

``build_ui`` lays the page out and wires each control to its handler; ``launch_ui``
serves it. Nothing here generates, retrieves or scales: the handlers call the core.
"""

from __future__ import annotations

import logging

import gradio as gr

from gradio_utils.chat_view import ChatHandlers, layout_chat, wire_chat
from gradio_utils.context import UiContext
from gradio_utils.documents_view import DocumentsHandlers, layout_documents, wire_documents
from gradio_utils.image_attach import CSS as IMAGES_CSS
from gradio_utils.image_attach import PASTE_JS
from gradio_utils.images_view import images_tab
from gradio_utils.saved_chats_view import (
    SavedChatsHandlers,
    exports_folder,
    layout_saved_chats,
    wire_saved_chats,
)
from gradio_utils.voice_view import VOICE_CSS, VoiceHandlers, wire_voice
from h2ogpt import __version__
from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.persistence.accounts import Accounts
from h2ogpt.persistence.chats import ChatStore
from h2ogpt.settings import Settings

log = logging.getLogger(__name__)

# System fonts only: Gradio's default theme would fetch Google Fonts, and the page must load
# with no network at all.
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "Consolas", "monospace"]
)
TEMP_FILES_CLEANUP = (900, 3600)  # every 15 minutes, Gradio's temporary files older than an hour
CSS = (
    """
.sources { font-size: 0.9em; border-top: 1px solid var(--border-color-primary); margin-top: 0.5em; }
.sources ul { margin: 0.2em 0 0 1em; }
a.citation { text-decoration: none; font-weight: 600; }
"""
    + VOICE_CSS
    + IMAGES_CSS
)


def build_ui(ctx: UiContext) -> gr.Blocks:
    """The page: the saved-chats sidebar, the Chat tab, (with documents) the Documents tab and
    (with --image_server) the Images tab."""
    saved = SavedChatsHandlers(ctx)
    # uploads and exports pass through Gradio's temporary files: they are removed after an hour
    with gr.Blocks(title="h2oGPT", analytics_enabled=False, delete_cache=TEMP_FILES_CLEANUP) as demo:
        conversations = gr.State([[] for _ in ctx.pipelines])
        chat_id = gr.State(None)
        with gr.Sidebar(label="Saved chats", open=True):
            sidebar = layout_saved_chats(__version__)
        with gr.Tab("Chat", id="chat"):
            chat_panel = layout_chat(ctx)
        chat = ChatHandlers(
            ctx, chat_panel.question, conversations, chat_id, chat_panel.controls, chat_panel.attach
        )
        voice = VoiceHandlers(chat_panel.voice)
        then_saved = dict(fn=saved.choices, inputs=[chat_id], outputs=[sidebar.saved_list])
        wire_chat(chat_panel, chat, sidebar.new_chat, then_saved, voice)
        wire_voice(demo, chat_panel.voice, voice, chat_panel.question)
        wire_saved_chats(sidebar, saved, [conversations, chat_id], chat_panel.chatbots)

        def on_load(request: gr.Request):
            return saved.choices(request), _user_line(ctx, request)

        demo.load(on_load, None, [sidebar.saved_list, sidebar.user_line])
        demo.load(None, None, None, js=PASTE_JS)
        if ctx.documents is not None:
            with gr.Tab("Documents", id="documents"):
                docs_panel = layout_documents()
            wire_documents(demo, docs_panel, DocumentsHandlers(ctx), chat_panel.controls)
        images_tab(ctx)
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
        allowed_paths=[str(exports_folder(settings))],
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
