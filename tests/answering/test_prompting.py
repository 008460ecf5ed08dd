"""Prompt formats for models without a chat template."""

from __future__ import annotations

import pytest

from h2ogpt.answering.prompting import PROMPT_FORMATS, check_prompt_type, render_prompt
from h2ogpt.errors import ConfigError

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]

EXPECTED = {
    "plain": "Be brief.\n\nHi\nHello!\nBye\n",
    "chatml": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
    "zephyr": "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nBye</s>\n<|assistant|>\n",
    "human_bot": "Be brief.\n<human>: Hi\n<bot>: Hello!\n<human>: Bye\n<bot>:",
    "llama2": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]",
    "mistral": "<s>[INST] Be brief.\n\nHi [/INST] Hello! </s><s>[INST] Bye [/INST]",
}


class NoTemplate:
    """A backend whose model has no chat template (only what prompting uses)."""

    def apply_chat_template(self, messages):
        return None


@pytest.mark.parametrize("name", sorted(PROMPT_FORMATS))
def test_formats_render(name):
    assert render_prompt(NoTemplate(), CHAT, name).text == EXPECTED[name]


def test_no_template_and_no_prompt_type_falls_back_to_plain():
    assert render_prompt(NoTemplate(), CHAT, "").text == EXPECTED["plain"]


def test_empty_system_prompt_is_left_out():
    chat = [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}]
    assert render_prompt(NoTemplate(), chat, "chatml").text.startswith("<|im_start|>user")


def test_unknown_prompt_type():
    with pytest.raises(ConfigError, match="choose one of"):
        check_prompt_type("nonsense")


def test_template_without_system_role_gets_it_folded(backend):
    class RejectsSystem:
        def apply_chat_template(self, messages):
            if messages[0]["role"] == "system":
                raise ValueError("System role not supported")
            return backend.apply_chat_template(messages)

    text = render_prompt(RejectsSystem(), CHAT[:2], "").text
    assert "Be brief.\n\nHi" in text
