"""A GGUF's own chat template (``tokenizer.chat_template``), rendered like transformers does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from h2ogpt.errors import RequestError


class ChatTemplate:
    """The Jinja chat template of a model, compiled once in a sandbox."""

    def __init__(self, source: str, bos_token: str, eos_token: str) -> None:
        import jinja2
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise jinja2.exceptions.TemplateError(message)

        def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
            return json.dumps(
                value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
            )

        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
        )
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._error = jinja2.exceptions.TemplateError
        self.source = source
        self._template = env.from_string(source)
        self._tokens = {"bos_token": bos_token, "eos_token": eos_token}

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        try:
            return self._template.render(
                messages=[dict(m) for m in messages], add_generation_prompt=True, **self._tokens
            )
        except self._error as exc:
            raise RequestError(f"the model's chat template refused these messages: {exc}") from None
