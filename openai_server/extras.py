"""The API's extra body fields, derived from the core request type (never hand-copied).

Every field of :class:`h2ogpt.request.AnswerRequest` that has no OpenAI name is accepted
as an extra JSON field with the core's own type, constraints and description, so a field
added to AnswerRequest (``budget``, ``collection``, ...) appears in the API and its
``/openapi.json`` with no change here.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo

from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings
from openai_server.errors import bad_request

log = logging.getLogger(__name__)

# AnswerRequest field -> the OpenAI request field that sets it (translated by convert.py)
OPENAI_NAMES: dict[str, str] = {
    "messages": "messages",
    "prompt": "prompt",
    "max_new_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
    "stop": "stop",
    "n": "n",
    "top_logprobs": "top_logprobs",
    "response_format": "response_format",
}
# older h2oGPT names accepted for a core field, only while the core has that field (the core's
# own aliases, e.g. ``validation_alias=AliasChoices("collection", "langchain_mode")``, count too)
ALIASES: dict[str, str] = {"langchain_mode": "collection"}


def unknown_field_hint(name: str) -> str:
    """A hint for an unknown field that is the core name of an OpenAI field."""
    openai_name = OPENAI_NAMES.get(name)
    return f": use '{openai_name}'" if openai_name and openai_name != name else ""


def _described(name: str, info: FieldInfo) -> FieldInfo:
    """A copy of the core field under its own name only (aliases become fields of their own);
    without a description it borrows the Settings' one."""
    field = copy.copy(info)
    field.alias = field.validation_alias = field.serialization_alias = None
    if not field.description and name in Settings.model_fields:
        field.description = Settings.model_fields[name].description
    return field


def alias_map(answer_type: type[AnswerRequest] = AnswerRequest) -> dict[str, str]:
    """Alias -> core field: the core's declared aliases, and ALIASES whose field the core has."""
    aliases = {alias: target for alias, target in ALIASES.items() if target in answer_type.model_fields}
    for name, info in answer_type.model_fields.items():
        declared = info.validation_alias
        choices = declared.choices if isinstance(declared, AliasChoices) else [declared, info.alias]
        aliases.update({c: name for c in choices if isinstance(c, str) and c != name})
    return aliases


def extra_fields(
    taken: Iterable[str], answer_type: type[AnswerRequest] = AnswerRequest
) -> dict[str, tuple[Any, FieldInfo]]:
    """``create_model`` field definitions for the core fields an OpenAI request lacks.

    ``taken`` are the OpenAI model's own field names: a core field of the same name
    is not added again (it would shadow the OpenAI meaning).
    """
    taken = set(taken)
    fields: dict[str, tuple[Any, FieldInfo]] = {}
    for name, info in answer_type.model_fields.items():
        if name in OPENAI_NAMES:
            continue
        if name in taken:
            log.warning("core request field %r has the name of an OpenAI field; not exposed as extra", name)
            continue
        fields[name] = (info.annotation, _described(name, info))
    for alias, target in alias_map(answer_type).items():
        if target in fields and alias not in taken and alias not in fields:
            annotation, info = fields[target]
            alias_info = copy.copy(info)
            alias_info.description = f"Alias of '{target}' (h2oGPT's older name). " + (info.description or "")
            fields[alias] = (annotation, alias_info)
    return fields


def extra_values(body: BaseModel, answer_type: type[AnswerRequest] = AnswerRequest) -> dict[str, Any]:
    """The extra fields the client actually sent, under their core names."""
    core = answer_type.model_fields
    sent: Mapping[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    values = {name: value for name, value in sent.items() if name in core and name not in OPENAI_NAMES}
    for alias, target in alias_map(answer_type).items():
        if alias in sent and target in core:
            if target in values:
                raise bad_request(f"give either '{alias}' or '{target}', not both", param=alias)
            values[target] = sent[alias]
    return values
