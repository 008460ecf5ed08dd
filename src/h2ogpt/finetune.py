"""LoRA fine-tuning of the local model with peft: ``python finetune.py --data_path=... --output_dir=...``.

Examples are rendered exactly as generate.py renders a chat (the model's chat template, or
``--prompt_type``; ``--system_prompt`` applied), so the saved adapter is trained on the prompts
it will see with ``python generate.py --lora_weights=OUTPUT_DIR``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from h2ogpt.errors import ConfigError
from h2ogpt.prompting import PROMPT_FORMATS, Message, check_prompt_type, with_system_prompt
from h2ogpt.request import ChatMessage
from h2ogpt.settings import Settings

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of tokens that carry no loss
Renderer = Callable[[list[Message], bool], str]


class FinetuneSettings(Settings):
    """Settings plus the fine-tuning options (h2oGPT's finetune.py names)."""

    data_path: str = Field(
        "",
        description="Training data: a JSON list or JSONL file; each row is {'instruction', 'input' "
        "(optional), 'output'} or {'messages': [{'role', 'content'}, ...]}.",
    )
    output_dir: str = Field("", description="Folder where the LoRA adapter (and tokenizer) is saved.")
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling alpha (the update is scaled by alpha/r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA layers' input.")
    lora_target_modules: str = Field(
        "q_proj,k_proj,v_proj,o_proj", description="Comma-separated names of the modules that get LoRA."
    )
    num_epochs: int = Field(1, ge=1, description="Passes over the training data (unless --max_steps).")
    max_steps: int = Field(0, ge=0, description="Optimizer steps to train; 0: use --num_epochs.")
    micro_batch_size: int = Field(4, ge=1, description="Examples per optimizer step.")
    learning_rate: float = Field(3e-4, gt=0.0, description="AdamW learning rate.")
    cutoff_len: int = Field(512, ge=2, description="Longest example in tokens; longer ones are truncated.")
    train_on_inputs: bool = Field(
        False, description="Also train on the prompt tokens; False: loss only on the answer tokens."
    )


@dataclass(frozen=True)
class FinetuneResult:
    """What a training run did."""

    steps: int
    first_loss: float
    last_loss: float
    output_dir: str
    trainable_params: int


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]


def _row_messages(row: object, where: str) -> list[Message]:
    """One data row as chat messages, or ConfigError naming the row."""
    if isinstance(row, dict) and "messages" in row:
        try:
            messages = [ChatMessage.model_validate(m).model_dump() for m in row["messages"]]
        except (ValidationError, TypeError) as exc:
            raise ConfigError(f"{where}: bad 'messages': {exc}".splitlines()[0]) from None
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
            raise ConfigError(
                f"{data_path}: row {number}: not valid JSON ({exc.msg}); give a JSON list of rows "
                "or JSONL (one JSON object per line)"
            ) from None
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
        except ConfigError as exc:
            raise ConfigError(f"{settings.data_path}: row {number}: {exc}") from None
        except (TemplateError, ValueError) as exc:
            raise ConfigError(
                f"{settings.data_path}: row {number}: the chat template failed: {exc}"
            ) from None
        if any(label != IGNORE_INDEX for label in example.labels[1:]):
            examples.append(example)
    if len(examples) < len(chats):
        log.warning("%d rows left out: nothing to learn within --cutoff_len", len(chats) - len(examples))
    if not examples:
        raise ConfigError(
            f"{settings.data_path}: no row has answer tokens within --cutoff_len={settings.cutoff_len}"
        )
    return examples


def _batches(examples: list[Example], size: int, steps: int, seed: int) -> Iterator[list[Example]]:
    """``steps`` batches, reshuffling the data at every epoch."""
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(steps):
        if len(order) < size:
            order += rng.sample(range(len(examples)), len(examples))
        yield [examples[i] for i in order[:size]]
        order = order[size:]


def _collate(batch: list[Example], pad_id: int, device: str) -> dict:
    """Right-pad one batch into tensors."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in batch]
    labels = [e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in batch]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch]
    tensors = (torch.tensor(rows, dtype=torch.long, device=device) for rows in (ids, labels, mask))
    return dict(zip(("input_ids", "labels", "attention_mask"), tensors, strict=True))


def _load_for_training(settings: FinetuneSettings, device: str):
    """Base model (as ``--base_model`` means in generate.py) wrapped with a trainable LoRA adapter."""
    from h2ogpt.backends.loading import converted_gguf_dir
    from h2ogpt.backends.model_source import resolve_model

    source = resolve_model(settings.base_model)
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = (
        str(converted_gguf_dir(source, settings.data_dir)) if source.kind == "gguf" else source.location
    )
    log.info("Loading %s on %s (float32) for training", source.display_name, device)
    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(location, local_files_only=True, dtype=torch.float32)
    model.to(device)
    if settings.lora_weights:
        log.info("Continuing training of the adapter %s", settings.lora_weights)
        return PeftModel.from_pretrained(
            model, os.path.expanduser(settings.lora_weights), is_trainable=True
        ), tokenizer
    targets = [name.strip() for name in settings.lora_target_modules.split(",") if name.strip()]
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config), tokenizer
    except ValueError as exc:
        raise ConfigError(f"--lora_target_modules={settings.lora_target_modules}: {exc}") from None


def _check(settings: FinetuneSettings) -> Path:
    """Fail fast, before any model is loaded, on settings that cannot work."""
    if not settings.data_path:
        raise ConfigError("--data_path is required: the JSON or JSONL file of training examples")
    if not settings.output_dir:
        raise ConfigError("--output_dir is required: the folder where the LoRA adapter is saved")
    if settings.inference_server:
        raise ConfigError("--inference_server: fine-tuning needs a local model; leave it empty")
    if settings.load_8bit or settings.load_4bit:
        raise ConfigError("--load_8bit/--load_4bit: fine-tuning trains in float32; leave them off")
    if (
        settings.lora_weights
        and not (Path(settings.lora_weights).expanduser() / "adapter_config.json").is_file()
    ):
        raise ConfigError(f"--lora_weights={settings.lora_weights}: no adapter_config.json there")
    out = Path(settings.output_dir).expanduser()
    if (out / "adapter_config.json").exists():
        raise ConfigError(f"--output_dir={settings.output_dir} already holds an adapter; choose a new folder")
    return out


def finetune(settings: FinetuneSettings) -> FinetuneResult:
    """Train a LoRA adapter on ``settings.data_path`` and save it in ``settings.output_dir``."""
    out = _check(settings)
    chats = load_chats(settings.data_path)
    import torch

    from h2ogpt.backends.loading import pick_device

    seed = 0 if settings.seed is None else settings.seed
    torch.manual_seed(seed)
    device = pick_device(settings)
    model, tokenizer = _load_for_training(settings, device)
    examples = build_examples(tokenizer, settings, chats)
    steps = settings.max_steps or settings.num_epochs * math.ceil(len(examples) / settings.micro_batch_size)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("Training %d steps on %d examples, %d trainable parameters", steps, len(examples), trainable)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    pad_id = next((i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0)
    model.train()
    losses: list[float] = []
    started, every = time.monotonic(), max(1, steps // 10)
    for step, batch in enumerate(_batches(examples, settings.micro_batch_size, steps, seed), 1):
        loss = model(**_collate(batch, pad_id, device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step == 1 or step % every == 0 or step == steps:
            log.info("step %d/%d  loss %.4f  (%.1f s)", step, steps, losses[-1], time.monotonic() - started)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    log.info("Saved the LoRA adapter in %s", out)
    return FinetuneResult(steps, losses[0], losses[-1], str(out), trainable)
