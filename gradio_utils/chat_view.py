"""The Chat tab: chatbots (one per model), the question box and its buttons, the
generation mode (scaling) and the Expert panel. Handlers only build an AnswerRequest,
stream the pipeline's events through ``answering`` and render them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr
from pydantic import ValidationError

from gradio_utils.answering import stream_answers
from gradio_utils.context import UiContext
from gradio_utils.render import Message, chatbot_messages
from h2ogpt.request import AnswerRequest
from h2ogpt.settings import NO_DOCUMENTS

log = logging.getLogger(__name__)

SCALING_CHOICES = [
    ("None", "none"),
    ("Self-consistency", "self-consistency"),
    ("Best-of-n", "best-of-n"),
    ("Beam search", "beam-search"),
    ("Particle filtering", "particle-filtering"),
    ("Particle Gibbs", "particle-gibbs"),
]
MAX_UI_BUDGET = 64


@dataclass
class ChatControls:
    """The components whose values shape a request, in the order handlers receive them."""

    scaling_algorithm: gr.Dropdown
    budget: gr.Slider
    collection: gr.Dropdown
    action: gr.Radio
    document_choice: gr.Dropdown
    system_prompt: gr.Textbox
    temperature: gr.Slider
    top_p: gr.Slider
    top_k: gr.Slider
    max_new_tokens: gr.Slider
    repetition_penalty: gr.Slider
    seed: gr.Number

    def components(self) -> list[gr.components.Component]:
        return list(vars(self).values())

    def values(self, data: dict) -> dict[str, Any]:
        """The controls' values by field name, from a handler's ``{component: value}``."""
        return {name: data[component] for name, component in vars(self).items()}


def request_fields(
    *,
    scaling_algorithm: str,
    budget: float,
    collection: str | None,
    action: str,
    document_choice: list[str] | None,
    system_prompt: str,
    temperature: float,
    top_p: float,
    top_k: float,
    max_new_tokens: float,
    repetition_penalty: float,
    seed: float | None,
) -> dict[str, Any]:
    """AnswerRequest fields from the controls' values (seed 0 or empty: a fresh seed)."""
    fields: dict[str, Any] = {
        "system_prompt": system_prompt,
        "temperature": float(temperature),
        "top_p": float(top_p),
        "top_k": int(top_k),
        "max_new_tokens": int(max_new_tokens),
        "repetition_penalty": float(repetition_penalty),
        "seed": int(seed) if seed else None,
        "collection": collection or NO_DOCUMENTS,
        "langchain_action": action,
        "document_choice": list(document_choice or []),
        "scaling_algorithm": scaling_algorithm,
    }
    if scaling_algorithm != "none":
        fields["budget"] = int(budget)
    return fields


def build_controls(ctx: UiContext) -> ChatControls:
    """The generation-mode, documents and Expert panels under the chat."""
    settings = ctx.settings
    with gr.Row():
        scaling_algorithm = gr.Dropdown(
            SCALING_CHOICES,
            value=settings.scaling_algorithm,
            label="Generation mode",
            info="Inference-time scaling: several candidates, one answer.",
            elem_id="scaling-algorithm",
        )
        budget = gr.Slider(
            1,
            MAX_UI_BUDGET,
            value=max(settings.budget, 1),
            step=1,
            label="Budget",
            info="Samples (particles, beams x width) the mode may spend.",
            elem_id="scaling-budget",
        )
    with gr.Accordion("Documents", open=ctx.documents is not None, visible=ctx.documents is not None):
        with gr.Row():
            collection = gr.Dropdown(
                [NO_DOCUMENTS], value=None, label="Collection", elem_id="chat-collection"
            )
            action = gr.Radio(["Query", "Summarize", "Extract"], value="Query", label="Action")
        document_choice = gr.Dropdown(
            [],
            value=[],
            multiselect=True,
            label="Only these documents (none chosen: all)",
            elem_id="doc-choice",
        )
    with gr.Accordion("Expert", open=False, elem_id="expert"):
        system_prompt = gr.Textbox(
            settings.system_prompt, label="System prompt", info="'auto': the model's default; empty: none."
        )
        with gr.Row():
            temperature = gr.Slider(0.0, 2.0, value=settings.temperature, step=0.05, label="Temperature")
            top_p = gr.Slider(0.05, 1.0, value=settings.top_p, step=0.05, label="Top p")
            top_k = gr.Slider(0, 200, value=settings.top_k, step=1, label="Top k")
        with gr.Row():
            max_new_tokens = gr.Slider(
                1,
                4096,
                value=settings.max_new_tokens,
                step=1,
                label="Max new tokens",
                elem_id="max-new-tokens",
            )
            repetition_penalty = gr.Slider(
                1.0, 2.0, value=settings.repetition_penalty, step=0.01, label="Repetition penalty"
            )
            seed = gr.Number(settings.seed or 0, precision=0, label="Seed (0: random)")
    return ChatControls(
        scaling_algorithm,
        budget,
        collection,
        action,
        document_choice,
        system_prompt,
        temperature,
        top_p,
        top_k,
        max_new_tokens,
        repetition_penalty,
        seed,
    )


def render_all(conversations: list[list[Message]], progress=None) -> list[list[Message]]:
    """Every chatbot's value (``progress``: the running answers' scaling progress)."""
    progress = progress or [None] * len(conversations)
    return [
        chatbot_messages(c, f"m{i}-", p) for i, (c, p) in enumerate(zip(conversations, progress, strict=True))
    ]


class ChatHandlers:
    """Send, Stop, Regenerate, Undo and Clear for the chatbots of one page.

    Send and Regenerate receive ``{component: value}`` (inputs given as a set), so the
    many controls need no long parameter list.
    """

    def __init__(
        self,
        ctx: UiContext,
        question: gr.Textbox,
        conversations: gr.State,
        chat_id: gr.State,
        controls: ChatControls,
    ) -> None:
        self.ctx = ctx
        self.question = question
        self.conversations = conversations
        self.chat_id = chat_id
        self.controls = controls

    def inputs(self) -> set:
        return {self.question, self.conversations, self.chat_id, *self.controls.components()}

    def empty(self) -> list[list[Message]]:
        return [[] for _ in self.ctx.pipelines]

    def _conversations(self, data: dict) -> list[list[Message]]:
        return [list(c) for c in (data[self.conversations] or self.empty())]

    def ask(self, data: dict, request: gr.Request):
        """Stream every model's answer to the question; save the chat when done.

        Yields (question box, conversations, chat id, *chatbots).
        """
        question = (data[self.question] or "").strip()
        conversations, chat_id = self._conversations(data), data[self.chat_id]
        if not question:
            gr.Warning("Type a question first.")
            yield ("", conversations, chat_id, *render_all(conversations))
            return
        for conversation in conversations:
            conversation.append({"role": "user", "content": question})
        yield from self._answer(conversations, chat_id, data, request)

    def regenerate(self, data: dict, request: gr.Request):
        """Answer the last question again (its old answers are replaced)."""
        conversations, chat_id = self._conversations(data), data[self.chat_id]
        if not any(c and c[-1]["role"] == "assistant" for c in conversations):
            gr.Warning("There is no answer to regenerate yet.")
            yield ("", conversations, chat_id, *render_all(conversations))
            return
        for conversation in conversations:
            if conversation and conversation[-1]["role"] == "assistant":
                conversation.pop()
        yield from self._answer(conversations, chat_id, data, request)

    def _answer(self, conversations, chat_id, data: dict, request: gr.Request):
        user = self.ctx.user(request)
        stop = self.ctx.stop_event(request)
        stop.clear()
        fields = request_fields(**self.controls.values(data))

        def make_request(history) -> AnswerRequest:
            return AnswerRequest(messages=history, **fields)

        try:
            stream = stream_answers(self.ctx.pipelines, conversations, make_request, user.documents, stop)
            for answers in stream:
                progress = [a.progress for a in answers]
                yield ("", conversations, chat_id, *render_all(conversations, progress))
        except (ValidationError, ValueError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            gr.Warning(f"Not sent: {message}")
            for conversation in conversations:
                if conversation and conversation[-1]["role"] == "user":
                    conversation.pop()
            yield ("", conversations, chat_id, *render_all(conversations))
            return
        saved = self.ctx.chats.save(user.name, _saved_messages(conversations), chat_id=chat_id)
        yield ("", conversations, saved.id, *render_all(conversations))

    def stop(self, request: gr.Request) -> None:
        self.ctx.stop_event(request).set()

    def undo(self, conversations, chat_id, request: gr.Request):
        """Take back the last question and its answers."""
        conversations = [list(c) for c in (conversations or self.empty())]
        for conversation in conversations:
            while conversation and conversation[-1]["role"] == "assistant":
                conversation.pop()
            if conversation:
                conversation.pop()
        if chat_id is not None:
            user = self.ctx.user(request)
            if conversations[0]:
                chat_id = self.ctx.chats.save(user.name, _saved_messages(conversations), chat_id=chat_id).id
            else:  # nothing is left of it
                self.ctx.chats.delete(user.name, chat_id)
                chat_id = None
        return (conversations, chat_id, *render_all(conversations))

    def clear(self):
        """A new, empty conversation (the saved one stays in the sidebar)."""
        conversations = self.empty()
        return (conversations, None, *render_all(conversations))


NO_ANSWER: Message = {"role": "assistant", "content": "(no answer from this model)", "error": True}


def _answers_by_turn(conversation: list[Message]) -> dict[int, Message]:
    """Each question's answer, by the question's number (0, 1, ...)."""
    turn, answers = -1, {}
    for message in conversation:
        if message["role"] == "user":
            turn += 1
        elif message["role"] == "assistant":
            answers[turn] = message
    return answers


def _saved_messages(conversations: list[list[Message]]) -> list[Message]:
    """The first model's conversation; with several models, each answer keeps the other
    models' answers to the same question under ``others``."""
    first = [dict(m) for m in conversations[0]]
    if len(conversations) > 1:
        others = [_answers_by_turn(c) for c in conversations[1:]]
        turn = -1
        for message in first:
            if message["role"] == "user":
                turn += 1
            elif message["role"] == "assistant":
                message["others"] = [answers.get(turn, NO_ANSWER) for answers in others]
    return first


def conversations_from_saved(messages: list[Message], models: int) -> list[list[Message]]:
    """The per-model conversations of a saved chat (inverse of ``_saved_messages``); a
    model the chat has no answer from gets a placeholder, so every column stays aligned."""
    conversations: list[list[Message]] = [[] for _ in range(models)]
    for message in messages:
        others = message.get("others") or []
        base = {k: v for k, v in message.items() if k != "others"}
        conversations[0].append(base)
        for k in range(1, models):
            if message["role"] != "assistant":
                conversations[k].append(dict(base))
            else:
                conversations[k].append(dict(others[k - 1]) if k - 1 < len(others) else dict(NO_ANSWER))
    return conversations
