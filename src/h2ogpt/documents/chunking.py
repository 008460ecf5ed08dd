"""Split loaded pages into chunks measured in the embedding model's tokens.

Each page ``Document`` is split on its own, so a chunk never spans two pages and its
``page`` metadata stays exact for citations. Transcripts of audio and video come as one
``Document`` per timed segment (``start``/``end`` seconds): consecutive segments are grouped
up to the chunk size (neighbouring groups share trailing segments up to the overlap), so each
chunk carries the time span it covers.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

from langchain_core.documents import Document

from h2ogpt.errors import ConfigError

log = logging.getLogger(__name__)

# [CLS] and [SEP] take two tokens of the model's window; the title line (see indexed_text) up to
# about sixteen more.
SPECIAL_TOKENS = 2
TITLE_TOKENS = 16


def doc_id_for(source: str) -> str:
    """Stable id of a document: the same source always gets the same id."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def scalar_metadata(metadata: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """Metadata a vector store accepts: JSON scalars only, no None."""
    clean: dict[str, str | int | float | bool] = {}
    for key, value in metadata.items():
        if isinstance(value, str | int | float | bool):
            clean[str(key)] = value
        elif value is not None:
            clean[str(key)] = str(value)
    return clean


def effective_chunk_tokens(chunk_size: int, model_window: int | None) -> int:
    """The chunk size actually used: never more than the embedding model can read at once.

    A longer chunk would be embedded from its first ``model_window`` tokens only, so its tail
    could never be found by vector search.
    """
    if model_window and chunk_size > model_window - SPECIAL_TOKENS - TITLE_TOKENS:
        return model_window - SPECIAL_TOKENS - TITLE_TOKENS
    return chunk_size


def indexed_text(text: str, metadata: dict[str, Any]) -> str:
    """What is embedded and keyword-indexed for a chunk: a line naming its document, then its text.

    A chunk from the middle of a report rarely names the report; with its title and file name
    in front, a question that names the document (a product, a quarter, a person) can still
    find it. The stored and returned text stays the chunk's own.
    """
    title = str(metadata.get("title") or "").strip()
    name = PurePath(str(metadata.get("source") or "")).name
    if name and PurePath(name).stem not in title:
        title = f"{title} ({name})" if title else name
    return f"{title}\n{text}" if title else text


class Chunker:
    """Token-aware recursive splitting (paragraphs, then lines, sentences, words)."""

    def __init__(self, tokenizer: Any, chunk_size: int, chunk_overlap: int) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        if chunk_overlap >= chunk_size:
            raise ConfigError(
                f"--chunk_overlap={chunk_overlap} must be smaller than the chunk size ({chunk_size} tokens)"
            )
        self.tokenizer = tokenizer
        # Counting tokens of long pages is fine here; silence the "longer than the model" notice.
        getattr(tokenizer, "deprecation_warnings", {})[
            "sequence-length-is-longer-than-the-specified-maximum"
        ] = True
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
            tokenizer,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
            keep_separator="end",
            add_start_index=False,  # its offsets mix tokens and characters: computed below instead
            strip_whitespace=True,
        )

    @classmethod
    def for_model(cls, model: Any, chunk_size: int, chunk_overlap: int) -> Chunker:
        """A chunker for a sentence-transformers model, capped at the model's input window."""
        size = effective_chunk_tokens(chunk_size, getattr(model, "max_seq_length", None))
        if size != chunk_size:
            log.info(
                "chunk_size %d tokens is more than the embedding model reads (%d): using %d",
                chunk_size,
                model.max_seq_length,
                size,
            )
        overlap = min(chunk_overlap, size // 2)
        return cls(model.tokenizer, size, overlap)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text))

    def split(self, pages: Sequence[Document], content_sha256: str) -> list[Document]:
        """Chunks of one document (all its pages), with ids and offsets in their metadata.

        ``chunk_id`` contains the content hash, so the chunks of two versions of a file never
        share ids and a half-finished replacement can be told apart from the recorded one.
        """
        chunks: list[Document] = []
        for page in group_timed_segments(pages, self.count_tokens, self.chunk_size, self.chunk_overlap):
            if not page.page_content.strip():
                continue
            source = str(page.metadata["source"])
            doc_id = doc_id_for(source)
            start = -1
            for piece in self._splitter.split_text(page.page_content):
                if not piece.strip():
                    continue
                start = _find_after(page.page_content, piece, start)
                meta = scalar_metadata(page.metadata)
                index = len(chunks)
                meta.update(
                    doc_id=doc_id,
                    chunk_id=f"{doc_id}-{content_sha256[:12]}-{index:05d}",
                    chunk_index=index,
                    start_index=start,
                    content_sha256=content_sha256,
                )
                chunks.append(Document(page_content=piece, metadata=meta))
        return chunks


def _find_after(text: str, piece: str, previous: int) -> int:
    """Character offset of ``piece`` in ``text``: chunks come in order, so look after the last one."""
    found = text.find(piece, previous + 1)
    return found if found >= 0 else max(text.find(piece), 0)


def is_timed(doc: Document) -> bool:
    """Whether a document is a timed transcript segment (``start`` and ``end`` in seconds)."""
    return all(isinstance(doc.metadata.get(k), int | float) for k in ("start", "end"))


def group_timed_segments(
    pages: Sequence[Document], count_tokens: Callable[[str], int], size: int, overlap: int
) -> list[Document]:
    """Consecutive timed segments of one source joined up to ``size`` tokens, each group with the
    ``start`` of its first segment and the ``end`` of its last; other pages are left as they are.

    A group after the first repeats the previous group's trailing segments that fit in
    ``overlap`` tokens. A segment longer than ``size`` stays alone (the splitter cuts it, each
    piece keeping the segment's span).
    """
    out: list[Document] = []
    group: list[tuple[Document, int]] = []
    fresh = 0  # segments in the group not already in the previous group

    def close() -> None:
        nonlocal group, fresh
        if fresh:
            first, last = group[0][0], group[-1][0]
            meta = dict(first.metadata, start=first.metadata["start"], end=last.metadata["end"])
            out.append(
                Document(page_content=" ".join(d.page_content.strip() for d, _ in group), metadata=meta)
            )
        tail: list[tuple[Document, int]] = []
        for item in reversed(group):
            if sum(n for _, n in tail) + item[1] > overlap:
                break
            tail.insert(0, item)
        group, fresh = tail, 0

    for page in pages:
        if not is_timed(page) or not page.page_content.strip():
            close()
            group = []
            out.append(page)
            continue
        if group and group[-1][0].metadata.get("source") != page.metadata.get("source"):
            close()
            group = []
        tokens = count_tokens(page.page_content)
        if fresh and sum(n for _, n in group) + tokens > size:
            close()
        if sum(n for _, n in group) + tokens > size:
            group = []  # the repeated tail and this segment do not fit together
        group.append((page, tokens))
        fresh += 1
    close()
    return out
