"""What loaders hand to the rest of document QA.

A loader turns one file (or URL) into langchain ``Document`` pieces: ``page_content`` is
text, ``metadata`` always has ``source`` (the path or URL as given), ``title`` and, for
formats with pages/slides/sheets, ``page`` (1-based int); loaders may add more keys
(``sheet``, ``slide``, ``attachment``, ...), all JSON-scalar values.
"""

from __future__ import annotations

from dataclasses import dataclass

from h2ogpt.errors import H2OGPTError


class DocumentLoadError(H2OGPTError):
    """One document could not be read; the message names it and says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class LoadFailure:
    """A document left out of a batch, and why."""

    source: str
    reason: str
