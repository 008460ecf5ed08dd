"""Chat prompts: the model's own chat template, or a named prompt format as fallback.

``--prompt_type`` empty means the model's chat template; a name picks one of
:data:`PROMPT_FORMATS`. ``--system_prompt``: ``auto`` keeps the model's default,
``''`` asks for none, anything else is used as the system message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from h2ogpt.backends.base import Backend
from h2ogpt.errors import ConfigError

log = logging.getLogger(__name__)

AUTO_SYSTEM_PROMPT = "auto"
Message = dict[str, str]


@dataclass(frozen=True)
class RenderedPrompt:
    """Prompt text ending where the answer starts, and the strings that end an answer."""

    text: str
    stop: tuple[str, ...] = ()


def _plain_join(system: str, user: str) -> str:
    return f"{system}\n\n{user}"


def _llama2_join(system: str, user: str) -> str:
    return f"<<SYS>>\n{system}\n<</SYS>>\n\n{user}"


def fold_system(messages: Sequence[Message], join: Callable[[str, str], str] = _plain_join) -> list[Message]:
    """Move a leading system message into the first remaining message."""
    messages = [dict(m) for m in messages]
    if not messages or messages[0]["role"] != "system":
        return messages
    system = messages.pop(0)["content"]
    if system and messages:
        messages[0]["content"] = join(system, messages[0]["content"])
    return messages


@dataclass(frozen=True)
class PromptFormat:
    """A text layout for chats, for models without a chat template."""

    name: str
    render_turn: Callable[[str, str], str]
    generation_prefix: str
    stop: tuple[str, ...]
    system_join: Callable[[str, str], str] | None = None  # set: the system prompt goes inside the first turn

    def render(self, messages: Sequence[Message]) -> RenderedPrompt:
        if self.system_join is not None:
            messages = fold_system(messages, self.system_join)
        turns = (
            self.render_turn(m["role"], m["content"])
            for m in messages
            if m["content"] or m["role"] != "system"
        )
        return RenderedPrompt("".join(turns) + self.generation_prefix, self.stop)


def _chatml(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def _zephyr(role: str, content: str) -> str:
    return f"<|{role}|>\n{content}</s>\n"


def _human_bot(role: str, content: str) -> str:
    return {"system": f"{content}\n", "user": f"<human>: {content}\n"}.get(role, f"<bot>: {content}\n")


def _plain(role: str, content: str) -> str:
    return f"{content}\n\n" if role == "system" else f"{content}\n"


def _inst(role: str, content: str) -> str:
    return f"<s>[INST] {content} [/INST]" if role == "user" else f" {content} </s>"


PROMPT_FORMATS: dict[str, PromptFormat] = {
    f.name: f
    for f in (
        PromptFormat("plain", _plain, "", ()),
        PromptFormat("chatml", _chatml, "<|im_start|>assistant\n", ("<|im_end|>",)),
        PromptFormat("zephyr", _zephyr, "<|assistant|>\n", ("</s>", "<|user|>")),
        PromptFormat("human_bot", _human_bot, "<bot>:", ("<human>:", "<bot>:")),
        PromptFormat("llama2", _inst, "", ("</s>", "[INST]"), system_join=_llama2_join),
        PromptFormat("mistral", _inst, "", ("</s>", "[INST]"), system_join=_plain_join),
    )
}


def check_prompt_type(prompt_type: str) -> None:
    """Raise ConfigError naming the choices when ``prompt_type`` is unknown."""
    if prompt_type and prompt_type not in PROMPT_FORMATS:
        raise ConfigError(
            f"--prompt_type={prompt_type}: unknown; choose one of {', '.join(PROMPT_FORMATS)} or ''"
        )


def with_system_prompt(messages: Sequence[Message], system_prompt: str) -> list[Message]:
    """Messages with the system prompt applied; a system message already present wins."""
    messages = [dict(m) for m in messages]
    if (messages and messages[0]["role"] == "system") or system_prompt == AUTO_SYSTEM_PROMPT:
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]


def render_prompt(backend: Backend, messages: Sequence[Message], prompt_type: str = "") -> RenderedPrompt:
    """The prompt for ``messages`` on ``backend``, ending where the assistant's answer starts."""
    check_prompt_type(prompt_type)
    if not prompt_type:
        templated = _apply_template(backend, messages)
        if templated is not None:
            return RenderedPrompt(templated)
        log.debug("Model has no chat template; using the plain prompt format")
        prompt_type = "plain"
    return PROMPT_FORMATS[prompt_type].render(messages)


def _apply_template(backend: Backend, messages: Sequence[Message]) -> str | None:
    """Apply the model's template; a template that rejects system messages gets the
    system prompt folded into the first user message instead."""
    try:
        return backend.apply_chat_template(messages)
    except Exception as exc:  # jinja raises TemplateError subclasses of its own choosing
        if not messages or messages[0]["role"] != "system":
            raise ConfigError(f"the model's chat template rejected the conversation: {exc}") from None
        return backend.apply_chat_template(fold_system(messages))
