"""Training data for LoRA fine-tuning: rows read from JSON/JSONL, rendered and tokenized.

Examples are rendered exactly as generate.py renders a chat (the model's chat template, or
``--prompt_type``; ``--system_prompt`` applied), so the adapter is trained on the prompts it
will see with ``python generate.py --lora_weights=OUTPUT_DIR``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from h2ogpt.answering.prompting import PROMPT_FORMATS, Message, check_prompt_type, with_system_prompt
from h2ogpt.errors import ConfigError
from h2ogpt.finetune.options import FinetuneSettings
from h2ogpt.request import ChatMessage

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of tokens that carry no loss
Renderer = Callable[[list[Message], bool], str]


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def _row_messages(row: object, where: str) -> list[Message]:
    """One data row as chat messages, or ConfigError naming the row."""
    if isinstance(row, dict) and "messages" in row:
        if not isinstance(row["messages"], list):
            raise ConfigError(f"{where}: 'messages' must be a list of {{'role', 'content'}} objects")
        try:
            messages = [ChatMessage.model_validate(m).model_dump() for m in row["messages"]]
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "message"
            raise ConfigError(f"{where}: bad 'messages': {field}: {error['msg']}") from None
        if not any(m["role"] == "assistant" for m in messages):
            raise ConfigError(f"{where}: 'messages' has no assistant message to learn from")
        return messages
    ok = isinstance(row, dict) and all(isinstance(row.get(k), str) for k in ("instruction", "output"))
    if not ok or not isinstance(row.get("input", ""), str):
        raise ConfigError(
            f"{where}: needs string fields 'instruction' and 'output' (and optional 'input'), "
            "or a 'messages' list"
        )
    user = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
    return [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]


def _jsonl_rows(text: str, data_path: str) -> list[tuple[int, object]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            rows += [(number, json.loads(line))] if line.strip() else []
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{data_path}: row {number}: not valid JSON ({exc.msg})") from None
    return rows


def load_chats(data_path: str) -> list[list[Message]]:
    """Read a JSON or JSONL training file into chats; ConfigError names the file and row."""
    path = Path(data_path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
        raise ConfigError(f"--data_path={data_path}: cannot read it ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None  # not one JSON document: read it as JSONL, one row per line
    rows = list(enumerate(data, 1)) if isinstance(data, list) else _jsonl_rows(text, data_path)
    if not rows:
        raise ConfigError(f"{data_path}: no rows to train on")
    return [_row_messages(row, f"{data_path}: row {number}") for number, row in rows]


def make_renderer(tokenizer, prompt_type: str) -> Renderer:
    """Render a chat as generate.py does: the chat template, or the named prompt format."""
    check_prompt_type(prompt_type)
    if not prompt_type and getattr(tokenizer, "chat_template", None):
        return lambda messages, prompt_only: tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=prompt_only
        )
    fmt = PROMPT_FORMATS[prompt_type or "plain"]

    def render(messages: list[Message], prompt_only: bool) -> str:
        text = fmt.render(messages).text
        return text if prompt_only else text[: len(text) - len(fmt.generation_prefix)]

    return render


def encode_chat(tokenizer, render: Renderer, messages: list[Message], settings: FinetuneSettings) -> Example:
    """Token ids and labels of one chat: every assistant turn is learned, the rest masked."""
    pieces: list[tuple[str, bool]] = []
    done = ""
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt, full = render(messages[:i], True), render(messages[: i + 1], False)
        if not (prompt.startswith(done) and full.startswith(prompt)):
            raise ConfigError(
                "the chat template does not render conversations turn by turn; use one turn per row"
            )
        pieces += [(prompt[len(done) :], False), (full[len(prompt) :], True)]
        done = full
    ids: list[int] = []
    labels: list[int] = []
    for text, learned in pieces:
        bos = tokenizer.bos_token
        add_special = not ids and not (bos and text.startswith(bos))  # as the local backend encodes
        piece = tokenizer.encode(text, add_special_tokens=add_special)
        ids += piece
        labels += piece if learned or settings.train_on_inputs else [IGNORE_INDEX] * len(piece)
    return Example(ids[: settings.cutoff_len], labels[: settings.cutoff_len])


def build_examples(tokenizer, settings: FinetuneSettings, chats: list[list[Message]]) -> list[Example]:
    """Encode every chat; rows whose answer falls past --cutoff_len are left out (logged)."""
    from jinja2 import TemplateError

    render = make_renderer(tokenizer, settings.prompt_type)
    examples: list[Example] = []
    for number, chat in enumerate(chats, 1):
        try:
            example = encode_chat(
                tokenizer, render, with_system_prompt(chat, settings.system_prompt), settings
            )
        except (ConfigError, TemplateError, ValueError) as exc:  # the template raises the last two
            raise ConfigError(f"{settings.data_path}: row {number}: {exc}") from None
        if any(label != IGNORE_INDEX for label in example.labels[1:]):
            examples.append(example)
    if len(examples) < len(chats):
        log.warning("%d rows left out: nothing to learn within --cutoff_len", len(chats) - len(examples))
    if not examples:
        raise ConfigError(
            f"{settings.data_path}: no row has answer tokens within --cutoff_len={settings.cutoff_len}"
        )
    return examples
