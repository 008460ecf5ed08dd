"""The controls under the chat that shape a request: generation mode and budget (scaling),
the documents to answer from, and the Expert panel (system prompt, sampling)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from gradio_utils.context import UiContext
from h2ogpt import plugins
from h2ogpt.backends.base import GREEDY_BELOW
from h2ogpt.scaling.options import DEFAULT_SCALING_TEMPERATURE, NO_SCALING
from h2ogpt.settings import NO_DOCUMENTS, Settings

MAX_UI_BUDGET = 64


def scaling_choices() -> list[tuple[str, str]]:
    """(label, name) of every registered scaling algorithm, plug-ins included, after "None"."""
    return [("None", NO_SCALING)] + [(e.value.label, e.name) for e in plugins.scaling_algorithms.entries()]


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
    if scaling_algorithm != NO_SCALING:
        fields["budget"] = int(budget)
    return fields


def sampling_note(scaling_algorithm: str, temperature: float) -> str:
    """The temperature a generation mode will really sample at (empty without scaling)."""
    spec = plugins.scaling_algorithms.find(scaling_algorithm)
    if spec is None or not spec.samples:
        return ""
    if temperature < GREEDY_BELOW:
        return (
            f"Candidates are sampled at temperature {DEFAULT_SCALING_TEMPERATURE:g} "
            "(at temperature 0 every candidate would be the same answer)."
        )
    return f"Candidates are sampled at temperature {temperature:g}."


def build_controls(ctx: UiContext, expert_extra: Callable[[], None] | None = None) -> ChatControls:
    """The generation-mode, documents and Expert panels under the chat (``expert_extra`` lays
    out more controls at the end of the Expert panel)."""
    scaling = _scaling_controls(ctx.settings)
    note = gr.Markdown(
        sampling_note(ctx.settings.scaling_algorithm, ctx.settings.temperature), elem_id="sampling-note"
    )
    controls = ChatControls(
        **scaling,
        **_documents_controls(ctx.documents is not None),
        **_expert_controls(ctx.settings, expert_extra),
    )
    for source in (controls.scaling_algorithm, controls.temperature):
        source.change(
            sampling_note, [controls.scaling_algorithm, controls.temperature], note, show_progress="hidden"
        )
    return controls


def _scaling_controls(settings: Settings) -> dict[str, gr.components.Component]:
    with gr.Row():
        scaling_algorithm = gr.Dropdown(
            scaling_choices(),
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
    return {"scaling_algorithm": scaling_algorithm, "budget": budget}


def _documents_controls(enabled: bool) -> dict[str, gr.components.Component]:
    with gr.Accordion("Documents", open=enabled, visible=enabled):
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
    return {"collection": collection, "action": action, "document_choice": document_choice}


def _expert_controls(
    settings: Settings, extra: Callable[[], None] | None = None
) -> dict[str, gr.components.Component]:
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
        if extra is not None:
            extra()
    return {
        "system_prompt": system_prompt,
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "max_new_tokens": max_new_tokens,
        "repetition_penalty": repetition_penalty,
        "seed": seed,
    }
