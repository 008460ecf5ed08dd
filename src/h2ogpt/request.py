"""The one request type for a single answer, shared by the UI, the CLI and the API.

A field left as None takes its default from Settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from h2ogpt.backends.base import SamplingParams
from h2ogpt.scaling.options import (
    ScalingOptions,
    ScalingRequestFields,
    merge_options,
)
from h2ogpt.settings import Settings
from h2ogpt.vision.images import ImageInput


def _encodable(text: str | None) -> str | None:
    """Reject text that is not valid Unicode (lone surrogates cannot be tokenized)."""
    if text is not None:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (it contains a lone surrogate)") from None
    return text


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str
    images: list[ImageInput] = Field(
        default_factory=list,
        exclude_if=lambda images: not images,  # text-only messages dump as {role, content}
        description="Images of a user message, in order (build each with h2ogpt.vision.images.load_image).",
    )

    _valid_content = field_validator("content")(classmethod(lambda cls, v: _encodable(v)))

    @field_validator("images")
    @classmethod
    def _user_images(cls, images: list[ImageInput], info) -> list[ImageInput]:
        if images and info.data.get("role") != "user":
            raise ValueError("only user messages may carry images")
        return images

    def as_message(self) -> dict:
        """The pipeline's message dict: role, content, and ``images`` (ImageInput objects) when any."""
        message: dict = {"role": self.role, "content": self.content}
        if self.images:
            message["images"] = list(self.images)
        return message


class AnswerRequest(ScalingRequestFields):
    """Everything that shapes one answer (the scaling options included)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    messages: list[ChatMessage] = Field(default_factory=list, description="The conversation, oldest first.")
    prompt: str | None = Field(
        None, description="Raw text to continue instead of a conversation (no chat template is applied)."
    )
    system_prompt: str | None = Field(None, description="'auto', '' (none) or the text; None: Settings.")
    prompt_type: str | None = Field(None, description="Prompt format name; None: Settings.")
    max_new_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=5.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    repetition_penalty: float | None = Field(
        None, ge=0.01, le=100.0, description="> 1 discourages repeating tokens; None: Settings."
    )
    presence_penalty: float = Field(
        0.0, ge=-2.0, le=2.0, description="Lowers the logit of every token already generated."
    )
    frequency_penalty: float = Field(
        0.0, ge=-2.0, le=2.0, description="Lowers a token's logit by this much per time it was generated."
    )
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1, description="Seed for sampling.")
    max_time: float | None = Field(None, gt=0.0, description="Seconds; capped by --max_time.")
    stop: list[str] = Field(default_factory=list, max_length=16, description="Strings that end an answer.")
    n: int = Field(1, ge=1, le=64, description="Number of answers, sampled in one batch.")
    top_logprobs: int = Field(0, ge=0, le=20, description="Most likely tokens reported per position.")
    collection: str | None = Field(
        None,
        validation_alias=AliasChoices("collection", "langchain_mode"),
        description="Document collection to answer from (alias langchain_mode); 'LLM': no documents; "
        "None: --langchain_mode when that collection has documents.",
    )
    top_k_docs: int | None = Field(None, ge=1, le=100, description="Chunks retrieved; None: --top_k_docs.")
    document_choice: list[str] = Field(
        default_factory=list, max_length=1000, description="Only these documents (sources) may be used."
    )
    langchain_action: Literal["Query", "Summarize", "Extract"] = Field(
        "Query",
        description="Query: answer from the most relevant chunks. Summarize: summary of the chosen "
        "documents. Extract: what the question asks for, from each chunk.",
    )
    response_format: Literal["text", "json_object"] = Field(
        "text",
        description="'json_object': the answer is always one valid JSON object (constrained decoding).",
    )

    @model_validator(mode="after")
    def _messages_or_prompt(self) -> AnswerRequest:
        if self.prompt is not None:
            if self.messages:
                raise ValueError("give either messages or prompt, not both")
        elif all(m.role == "system" for m in self.messages):
            raise ValueError("messages needs at least one user or assistant message")
        return self

    @field_validator("prompt", "system_prompt")
    @classmethod
    def _valid_text(cls, text: str | None) -> str | None:
        return _encodable(text)

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, stop: list[str]) -> list[str]:
        if any(not s for s in stop):
            raise ValueError("stop strings must not be empty")
        return stop

    @classmethod
    def from_prompt(cls, prompt: str, images: Sequence[ImageInput] = (), **fields) -> AnswerRequest:
        return cls(messages=[ChatMessage(role="user", content=prompt, images=list(images))], **fields)

    @property
    def images(self) -> list[ImageInput]:
        """Every image of the conversation, oldest first."""
        return [image for message in self.messages for image in message.images]

    def scaling_options(self, settings: Settings) -> ScalingOptions:
        """The scaling options, falling back to Settings for what the request leaves open."""
        return merge_options(self, settings)

    def sampling_params(self, settings: Settings) -> SamplingParams:
        """The sampling parameters, falling back to Settings for what the request leaves open.

        (A scaled answer that samples never runs greedy: ``scaling.prepare`` raises a greedy
        temperature to the scaling temperature and says so in the result.)
        """

        def pick(name: str):
            value = getattr(self, name)
            return getattr(settings, name) if value is None else value

        return SamplingParams(
            max_new_tokens=pick("max_new_tokens"),
            temperature=pick("temperature"),
            top_p=pick("top_p"),
            top_k=pick("top_k"),
            repetition_penalty=pick("repetition_penalty"),
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            seed=pick("seed"),
            stop=tuple(self.stop),
            # --max_time is the operator's ceiling: a request may ask for less, never more
            max_time=min(self.max_time or settings.max_time, settings.max_time),
            top_logprobs=self.top_logprobs,
            json_object=self.response_format == "json_object",
        )
