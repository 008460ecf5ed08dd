"""Pipeline events and saved conversations, rendered as Gradio chatbot messages.

A conversation is kept as plain message dicts (what ``ChatStore`` saves)::

    {"role": "user", "content": "...", "images": [ImageInput JSON, ...]}
    {"role": "assistant", "content": "... [1]", "model": "...", "sources": [...],
     "scaling": {...}, "vision": {...}, "stopped": bool, "error": bool}

The model sees only the role and content of the messages that are not errors; the
chatbot shows the answer with its ``[n]`` citations linked to the sources listed under
it, and a scaled answer's candidates in a collapsible block.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from gradio_utils.image_attach import images_of, images_read_html, user_content
from h2ogpt.documents.citations import CitedSource, source_label
from h2ogpt.request import ChatMessage
from h2ogpt.scaling.types import ScalingProgress, ScalingResult

Message = dict[str, Any]
SNIPPET_CHARS = 240
_CITATION = re.compile(r"\[(\d{1,3})\]")


def source_record(source: CitedSource) -> dict[str, Any]:
    """What a saved answer keeps of one cited source."""
    return {
        "number": source.number,
        "source": source.source,
        "page": source.page,
        "start": source.start,
        "end": source.end,
        "text": source.text,
    }


def scaling_record(result: ScalingResult) -> dict[str, Any]:
    """What a saved answer keeps of its scaling run: every candidate with its score/answer."""
    return {
        "algorithm": result.algorithm,
        "budget": result.budget,
        "selected_index": result.selected_index,
        "stopped_early": result.stopped_early,
        "votes": dict(result.votes),
        "candidates": [
            {"text": c.text, "answer": c.answer, "score": c.score, "steps": c.steps}
            for c in result.candidates
        ],
    }


def model_history(conversation: Sequence[Message]) -> list[ChatMessage]:
    """The conversation as the model sees it: user and assistant turns, leaving out the
    questions that failed together with their error."""
    history = []
    for index, message in enumerate(conversation):
        following = conversation[index + 1] if index + 1 < len(conversation) else {}
        if message.get("error") or (message["role"] == "user" and following.get("error")):
            continue
        if message["role"] == "user":
            history.append(ChatMessage(role="user", content=message["content"], images=images_of(message)))
        elif message["role"] == "assistant":
            history.append(ChatMessage(role="assistant", content=message["content"]))
    return history


def _source_label(source: dict[str, Any]) -> str:
    return source_label(str(source["source"]), source.get("page"), source.get("start"), source.get("end"))


def linked_citations(text: str, anchor: str, numbers: set[int]) -> str:
    """``[n]`` markers that name a listed source become links to it."""

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in numbers:
            return match.group(0)
        return f'<a href="#{anchor}-{number}" class="citation">[{number}]</a>'

    return _CITATION.sub(link, text)


def sources_html(sources: Sequence[dict[str, Any]], anchor: str) -> str:
    """The sources under an answer: number, file and page (or time span), and a snippet of the chunk."""
    items = []
    for source in sources:
        snippet = " ".join(str(source.get("text", "")).split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS].rstrip() + "…"
        items.append(
            f'<li id="{anchor}-{source["number"]}"><b>[{source["number"]}]</b> '
            f"<b>{html.escape(_source_label(source))}</b>: <i>{html.escape(snippet)}</i></li>"
        )
    return '<div class="sources"><b>Sources</b><ul>' + "".join(items) + "</ul></div>"


def answer_content(message: Message, anchor: str) -> str:
    """An assistant message as shown: how the question's images were read, linked citations,
    the sources, a stop/error note."""
    text = message.get("content", "")
    if message.get("error"):
        return f"**Error:** {text}"
    read = images_read_html(message.get("vision"))
    if read:
        text = f"{read}\n\n{text}"
    sources = message.get("sources") or []
    if sources:
        text = linked_citations(text, anchor, {int(s["number"]) for s in sources})
    if message.get("stopped"):
        text += "\n\n*(stopped)*"
    if sources:
        text += "\n\n" + sources_html(sources, anchor)
    return text


def describe_scaling(scaling: dict[str, Any]) -> str:
    """The title of a scaled answer's candidates block: what was chosen among how many."""
    candidates = scaling["candidates"]
    chosen = candidates[scaling["selected_index"]]
    if scaling.get("votes"):
        why = f"{scaling['votes'].get(chosen.get('answer'), 0)} votes"
    elif chosen.get("score") is not None:
        why = f"score {chosen['score']:.3f}"
    else:
        why = "selected"
    early = ", stopped early" if scaling.get("stopped_early") else ""
    return (
        f"{scaling['algorithm']}, budget {scaling['budget']}: chose candidate "
        f"{scaling['selected_index'] + 1} of {len(candidates)} ({why}{early})"
    )


def candidates_markdown(scaling: dict[str, Any]) -> str:
    """Every candidate of a scaled answer with its answer, votes or score."""
    votes = scaling.get("votes") or {}
    lines = []
    for i, candidate in enumerate(scaling["candidates"]):
        marks = ["**chosen**"] if i == scaling["selected_index"] else []
        if candidate.get("answer") is not None:
            marks.append(f"answer `{candidate['answer']}` ({votes.get(candidate['answer'], 0)} votes)")
        if candidate.get("score") is not None:
            marks.append(f"score {candidate['score']:.3f}")
        if candidate.get("steps") is not None:
            marks.append(f"{candidate['steps']} steps")
        text = " ".join(str(candidate["text"]).split())
        lines.append(f"{i + 1}. {' · '.join(marks)}\n\n   > {html.escape(text)}")
    return "\n\n".join(lines)


def progress_text(progress: ScalingProgress) -> str:
    """One line of a scaling run in progress: how far, and who leads."""
    unit = "steps" if progress.step is not None else "candidates"
    parts = [f"{progress.algorithm}: {progress.done}/{progress.total} {unit}"]
    if progress.votes:
        ranked = sorted(progress.votes.items(), key=lambda item: -item[1])[:4]
        parts.append("votes " + ", ".join(f"{answer[:24]}: {count}" for answer, count in ranked))
    elif progress.leader:
        parts.append(f"leader: {progress.leader[:60]}")
    if progress.weights:
        parts.append("weights " + " ".join(f"{w:.2f}" for w in progress.weights[:8]))
    return " · ".join(parts)


def chatbot_messages(
    conversation: Sequence[Message], anchor_prefix: str, progress: ScalingProgress | None = None
) -> list[Message]:
    """The chatbot's value for a conversation (and a running scaling's progress)."""
    shown: list[Message] = []
    for index, message in enumerate(conversation):
        if message["role"] == "user":
            shown.append({"role": "user", "content": user_content(message)})
            continue
        if message.get("scaling"):
            shown.append(
                {
                    "role": "assistant",
                    "content": candidates_markdown(message["scaling"]),
                    "metadata": {"title": describe_scaling(message["scaling"]), "status": "done"},
                }
            )
        shown.append({"role": "assistant", "content": answer_content(message, f"{anchor_prefix}{index}")})
    if progress is not None:
        shown.append(
            {
                "role": "assistant",
                "content": progress_text(progress),
                # the title stays visible while Gradio shows a pending block collapsed
                "metadata": {"title": f"Scaling in progress: {progress_text(progress)}", "status": "pending"},
            }
        )
    return shown
