"""What every UI handler needs: the core objects, who is asking, and stop requests."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import gradio as gr

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.persistence.accounts import Accounts
from h2ogpt.persistence.chats import ChatStore
from h2ogpt.settings import Settings

UI_USER_PREFIX = "ui-"  # document owners of the UI, apart from the API's key-holders
MAX_STOP_FLAGS = 10_000  # browser sessions whose Stop flag is kept (the oldest are dropped)


@dataclass(frozen=True)
class UiUser:
    """Who is asking: ``name`` owns saved chats; ``documents`` owns private collections
    (None: the local single user, when the UI has no login)."""

    name: str
    documents: str | None


@dataclass
class UiContext:
    settings: Settings
    pipelines: list[Pipeline]
    chats: ChatStore
    accounts: Accounts
    _stops: OrderedDict[str, threading.Event] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def documents(self) -> DocumentLibrary | None:
        """The collections (every model's pipeline shares the same ones)."""
        return self.pipelines[0].documents

    def user(self, request: gr.Request | None) -> UiUser:
        """The logged-in user (the guest without --auth)."""
        name = getattr(request, "username", None) if request is not None else None
        if self.accounts.enabled and name:
            return UiUser(name, UI_USER_PREFIX + name)
        return UiUser(self.accounts.guest, None)

    def stop_event(self, request: gr.Request | None) -> threading.Event:
        """The browser session's stop flag (set by the Stop button, cleared per answer)."""
        key = getattr(request, "session_hash", None) or "default"
        with self._lock:
            if key not in self._stops and len(self._stops) >= MAX_STOP_FLAGS:
                self._stops.popitem(last=False)
            return self._stops.setdefault(key, threading.Event())
