"""The built-in document loaders, registered as any plug-in registers its own: one module
per format family, each with a ``register(add)`` function (imported only when loaders are
first needed)."""

from __future__ import annotations

import importlib

from h2ogpt.plugins import hookimpl

FORMAT_MODULES = (
    "text",
    "pdf",
    "word",
    "presentation",
    "spreadsheet",
    "web",
    "data",
    "ebook",
    "opendocument",
    "rtf",
    "mail",
    "images",
    "audio",
    "archive",
)


@hookimpl
def register_loaders(register) -> None:
    for name in FORMAT_MODULES:
        importlib.import_module(f"h2ogpt.documents.loaders.{name}").register(register)
