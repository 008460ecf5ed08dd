"""The Chat tab: chatbots (one per model), the question box, its attached images and its
buttons, the generation mode (scaling) and the Expert panel. Handlers only build an
AnswerRequest, stream the pipeline's events through ``answering`` and render them."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from pydantic import ValidationError

from gradio_utils.chat_controls import ChatControls, build_controls, request_fields
from gradio_utils.context import UiContext
from gradio_utils.image_attach import attach_box, attached_images, image_count
from gradio_utils.render import Message, chatbot_messages
from gradio_utils.streaming import stream_answers
from gradio_utils.voice_view import VoiceHandlers, VoicePanel, VoiceSupport
from h2ogpt.request import AnswerRequest
from h2ogpt.vision.images import ImageError, ImageLimits


def render_all(conversations: list[list[Message]], progress=None) -> list[list[Message]]:
    """Every chatbot's value (``progress``: the running answers' scaling progress)."""
    progress = progress or [None] * len(conversations)
    return [
        chatbot_messages(c, f"m{i}-", p) for i, (c, p) in enumerate(zip(conversations, progress, strict=True))
    ]


class ChatHandlers:
    """Send, Stop, Regenerate, Undo and Clear for the chatbots of one page.

    Send and Regenerate receive ``{component: value}`` (inputs given as a set), so the
    many controls need no long parameter list. Their outputs are (question box, conversations,
    chat id, *chatbots, attach box).
    """

    def __init__(
        self,
        ctx: UiContext,
        question: gr.Textbox,
        conversations: gr.State,
        chat_id: gr.State,
        controls: ChatControls,
        attach: gr.File,
    ) -> None:
        self.ctx = ctx
        self.question = question
        self.attach = attach
        self.conversations = conversations
        self.chat_id = chat_id
        self.controls = controls

    def inputs(self) -> set:
        return {self.question, self.attach, self.conversations, self.chat_id, *self.controls.components()}

    def empty(self) -> list[list[Message]]:
        return [[] for _ in self.ctx.pipelines]

    def _conversations(self, data: dict) -> list[list[Message]]:
        return [list(c) for c in (data[self.conversations] or self.empty())]

    def ask(self, data: dict, request: gr.Request):
        """Stream every model's answer to the question; save the chat when done.

        Yields (question box, conversations, chat id, *chatbots, attach box). Attached
        images that cannot be used are a warning, and nothing is sent or saved.
        """
        question = (data[self.question] or "").strip()
        files = data[self.attach]
        conversations, chat_id = self._conversations(data), data[self.chat_id]
        if not question and not files:
            gr.Warning("Type a question first.")
            yield ("", conversations, chat_id, *render_all(conversations), gr.skip())
            return
        try:
            limits = ImageLimits.from_settings(self.ctx.settings)
            images = attached_images(files, limits, already=image_count(conversations[0]))
        except ImageError as exc:
            gr.Warning(f"Not sent: {exc}")
            yield (data[self.question], conversations, chat_id, *render_all(conversations), gr.skip())
            return
        for conversation in conversations:
            message = {"role": "user", "content": question}
            if images:
                message["images"] = images
            conversation.append(message)
        yield from self._answer(conversations, chat_id, data, request, clear_attach=bool(files))

    def regenerate(self, data: dict, request: gr.Request):
        """Answer the last question again (its old answers are replaced)."""
        conversations, chat_id = self._conversations(data), data[self.chat_id]
        if not any(c and c[-1]["role"] == "assistant" for c in conversations):
            gr.Warning("There is no answer to regenerate yet.")
            yield ("", conversations, chat_id, *render_all(conversations), gr.skip())
            return
        for conversation in conversations:
            if conversation and conversation[-1]["role"] == "assistant":
                conversation.pop()
        yield from self._answer(conversations, chat_id, data, request)

    def _answer(self, conversations, chat_id, data: dict, request: gr.Request, clear_attach: bool = False):
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
                attach = None if clear_attach else gr.skip()  # sent: the attach box empties once
                clear_attach = False
                yield ("", conversations, chat_id, *render_all(conversations, progress), attach)
        except (ValidationError, ValueError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            gr.Warning(f"Not sent: {message}")
            for conversation in conversations:
                if conversation and conversation[-1]["role"] == "user":
                    conversation.pop()
            yield ("", conversations, chat_id, *render_all(conversations), gr.skip())
            return
        saved = self.ctx.chats.save(user.name, _saved_messages(conversations), chat_id=chat_id)
        attach = None if clear_attach else gr.skip()
        yield ("", conversations, saved.id, *render_all(conversations), attach)

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


@dataclass
class ChatPanel:
    """The Chat tab's components."""

    chatbots: list[gr.Chatbot]
    question: gr.Textbox
    attach: gr.File
    send: gr.Button
    stop: gr.Button
    regenerate: gr.Button
    undo: gr.Button
    clear: gr.Button
    controls: ChatControls
    voice: VoicePanel


def layout_chat(ctx: UiContext) -> ChatPanel:
    """The chatbots side by side (one per model), the question box, its buttons, the controls."""
    models = ctx.pipelines
    gr.Markdown("Model: " + ", ".join(f"**{p.name}**" for p in models), elem_id="model-in-use")
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
    attach = attach_box()
    voice = VoicePanel(VoiceSupport.for_settings(ctx.settings), ctx.settings)
    with gr.Row():
        regenerate = gr.Button("Regenerate", size="sm", elem_id="regenerate")
        undo = gr.Button("Undo", size="sm", elem_id="undo")
        clear = gr.Button("Clear", size="sm", elem_id="clear")
    controls = build_controls(ctx, expert_extra=voice.expert)
    return ChatPanel(chatbots, question, attach, send, stop, regenerate, undo, clear, controls, voice)


def wire_chat(
    panel: ChatPanel, chat: ChatHandlers, new_chat: gr.Button, then_saved: dict, voice: VoiceHandlers
) -> None:
    """Send/Enter, Regenerate, Stop, Undo, Clear and New chat; ``then_saved`` (a listener's
    arguments) refreshes the saved-chats list after each. With auto-speak on, answers are
    also spoken as they stream (``voice``)."""
    chat_state = [chat.conversations, chat.chat_id]
    answer_outputs = [panel.question, *chat_state, *panel.chatbots, panel.attach]
    inputs = chat.inputs() | panel.voice.answer_inputs()
    outputs = answer_outputs + panel.voice.answer_outputs()
    ask = voice.speaking(chat.ask, chat.conversations, len(answer_outputs))
    regenerate = voice.speaking(chat.regenerate, chat.conversations, len(answer_outputs))
    asked = [
        trigger(ask, inputs, outputs, concurrency_limit=None)
        for trigger in (panel.question.submit, panel.send.click)
    ]
    regenerated = panel.regenerate.click(regenerate, inputs, outputs, concurrency_limit=None)
    for event in (*asked, regenerated):
        event.then(**then_saved)
    panel.stop.click(chat.stop, None, None, queue=False)
    panel.undo.click(chat.undo, chat_state, [*chat_state, *panel.chatbots]).then(**then_saved)
    for button in (panel.clear, new_chat):
        button.click(chat.clear, None, [*chat_state, *panel.chatbots]).then(**then_saved)


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
