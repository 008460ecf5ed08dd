"""E-mail (.eml, MIME) with the standard library: headers and body, then each attachment
loaded through the registry (``attachment`` = its file name; ``source`` stays the e-mail)."""

from __future__ import annotations

import email
import logging
from email import policy
from email.message import EmailMessage

from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import make_doc, tidy
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.loaders.web import html_to_text
from h2ogpt.documents.types import DocumentLoadError, LoadFailure

log = logging.getLogger(__name__)

HEADERS = ("Subject", "From", "To", "Cc", "Date")
MAX_DEPTH = 4  # e-mails attached to e-mails


def _body_text(message: EmailMessage) -> str:
    """The plain-text body, else the HTML body's visible text."""
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = body.get_content()
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return html_to_text(content)[1] if body.get_content_type() == "text/html" else tidy(content)


def _attachment_docs(part: EmailMessage, index: int, source: Source) -> list[Document]:
    """Documents of one attachment, loaded by its file name's extension."""
    from h2ogpt.documents.loaders.core import load_source

    filename = part.get_filename() or f"attachment-{index}"
    if part.get_content_type() == "message/rfc822" and not filename.lower().endswith(".eml"):
        filename += ".eml"
    payload = part.get_payload(decode=True)
    if payload is None:  # message/rfc822: the attached message itself
        inner = part.get_payload()
        payload = inner[0].as_bytes() if isinstance(inner, list) and inner else b""
    docs = load_source(source.child(f"{source.name}/{filename}", payload))
    for doc in docs:
        doc.metadata["source"] = source.name
        doc.metadata["attachment"] = filename
    return docs


def load_eml(source: Source) -> list[Document]:
    """The message (headers + body) and its attachments; a bad attachment fails alone."""
    if source.depth > MAX_DEPTH:
        raise DocumentLoadError(source.name, f"e-mails nested deeper than {MAX_DEPTH} levels are refused")
    message = email.message_from_bytes(source.read_bytes(), policy=policy.default)
    if not any(message[h] for h in HEADERS) and not message.is_multipart():
        raise DocumentLoadError(source.name, "not an e-mail message (no headers found)")
    subject = " ".join(str(message.get("Subject", "")).split()) or None
    headers = "\n".join(f"{h}: {message[h]}" for h in HEADERS if message[h])
    docs = [make_doc(f"{headers}\n\n{_body_text(message)}".strip(), source, subject)]
    for index, part in enumerate(message.iter_attachments(), start=1):
        if part.get_content_disposition() == "inline" and part.get_content_maintype() == "image":
            continue  # logos and pictures shown in the body
        try:
            docs.extend(_attachment_docs(part, index, source))
        except DocumentLoadError as exc:
            log.warning("left out attachment %s: %s", exc.source, exc.reason)
            if source.failures is not None:
                source.failures.append(LoadFailure(exc.source, exc.reason))
    return docs


def register(add: RegisterHook) -> None:
    """Register the e-mail loader."""
    add(".eml", load_eml)
