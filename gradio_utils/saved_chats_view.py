"""The sidebar of saved chats: open, rename, delete, export and import (h2oGPT's JSON)."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from gradio_utils.chat_view import conversations_from_saved, render_all
from gradio_utils.context import UiContext
from h2ogpt.errors import H2OGPTError
from h2ogpt.settings import Settings

EXPORT_LIFETIME_S = 3600


def exports_folder(settings: Settings) -> Path:
    """Where chat exports are written for download (the UI serves files from it)."""
    return Path(settings.data_dir) / "ui" / "exports"


def _remove_old_exports(root: Path) -> None:
    """Exports are for downloading right away: those older than EXPORT_LIFETIME_S go."""
    if not root.is_dir():
        return
    cutoff = time.time() - EXPORT_LIFETIME_S
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


class SavedChatsHandlers:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def choices(self, request: gr.Request, selected: str | None = None):
        """The sidebar list of the user's chats, newest first."""
        chats = self.ctx.chats.list(self.ctx.user(request).name)
        ids = {chat.id for chat in chats}
        return gr.update(
            choices=[(c.title, c.id) for c in chats], value=selected if selected in ids else None
        )

    def open(self, chat_id: str | None, request: gr.Request):
        """Show a saved chat; returns (conversations, chat id, title box, *chatbots)."""
        if not chat_id:
            return (gr.skip(),) * (3 + len(self.ctx.pipelines))
        try:
            chat = self.ctx.chats.get(self.ctx.user(request).name, chat_id)
        except H2OGPTError as exc:
            gr.Warning(str(exc))
            return (gr.skip(),) * (3 + len(self.ctx.pipelines))
        conversations = conversations_from_saved(chat.messages, len(self.ctx.pipelines))
        return (conversations, chat.id, chat.title, *render_all(conversations))

    def rename(self, chat_id: str | None, title: str, request: gr.Request):
        if not chat_id:
            gr.Warning("Open a saved chat to rename it.")
            return gr.skip()
        try:
            self.ctx.chats.rename(self.ctx.user(request).name, chat_id, title)
        except H2OGPTError as exc:
            gr.Warning(str(exc))
        return self.choices(request, chat_id)

    def delete(self, chat_id: str | None, request: gr.Request):
        """Delete the open chat; the page shows a new, empty one."""
        if chat_id:
            try:
                self.ctx.chats.delete(self.ctx.user(request).name, chat_id)
            except H2OGPTError as exc:
                gr.Warning(str(exc))
        conversations = [[] for _ in self.ctx.pipelines]
        return (self.choices(request), conversations, None, "", *render_all(conversations))

    def export(self, request: gr.Request):
        """A JSON file of all the user's chats, to download."""
        # under the data folder, not /tmp (it holds the user's conversations), in a folder of
        # an unguessable name (the UI serves files from there to whoever asks for the path)
        root = exports_folder(self.ctx.settings)
        _remove_old_exports(root)
        folder = root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        path = folder / "h2ogpt_chats.json"
        path.write_text(self.ctx.chats.export_json(self.ctx.user(request).name), encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def import_file(self, file: str | None, request: gr.Request):
        if not file:
            return gr.skip()
        try:
            text = Path(file).read_text(encoding="utf-8")
            imported = self.ctx.chats.import_json(self.ctx.user(request).name, text)
            gr.Info(f"Imported {len(imported)} chats.")
        except (H2OGPTError, UnicodeDecodeError, OSError) as exc:
            gr.Warning(f"{Path(file).name}: {exc}")
        return self.choices(request)


@dataclass
class SavedChatsPanel:
    """The sidebar's components."""

    user_line: gr.Markdown
    new_chat: gr.Button
    saved_list: gr.Radio
    title: gr.Textbox
    rename: gr.Button
    delete: gr.Button
    export: gr.Button
    export_file: gr.File
    import_file: gr.UploadButton


def layout_saved_chats(version: str) -> SavedChatsPanel:
    gr.Markdown(f"### h2oGPT {version}")
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
    return SavedChatsPanel(
        user_line, new_chat, saved_list, title, rename, delete, export, export_file, import_file
    )


def wire_saved_chats(
    panel: SavedChatsPanel, saved: SavedChatsHandlers, chat_state: list[gr.State], chatbots: list[gr.Chatbot]
) -> None:
    panel.saved_list.input(saved.open, [panel.saved_list], [*chat_state, panel.title, *chatbots])
    panel.rename.click(saved.rename, [chat_state[1], panel.title], [panel.saved_list])
    panel.delete.click(saved.delete, [chat_state[1]], [panel.saved_list, *chat_state, panel.title, *chatbots])
    panel.export.click(saved.export, None, [panel.export_file])
    panel.import_file.upload(saved.import_file, [panel.import_file], [panel.saved_list])
