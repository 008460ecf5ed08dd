"""The LoRA training loop: load the base model as generate.py would, train, save the adapter."""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from h2ogpt.errors import ConfigError
from h2ogpt.finetune.data import IGNORE_INDEX, Example, build_examples, load_chats
from h2ogpt.finetune.options import FinetuneSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneResult:
    """What a training run did."""

    steps: int
    first_loss: float
    last_loss: float
    output_dir: str
    trainable_params: int
    gguf_adapter: str | None = None  # adapter.gguf for the llama.cpp engine, when written


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
    from h2ogpt.backends.model_source import resolve_model
    from h2ogpt.backends.transformers.loading import converted_gguf_dir

    source = resolve_model(settings.base_model, settings.data_dir)
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

    from h2ogpt.backends.transformers.loading import pick_device

    seed = 0 if settings.seed is None else settings.seed
    torch.manual_seed(seed)
    device = pick_device(settings)
    model, tokenizer = _load_for_training(settings, device)
    examples = build_examples(tokenizer, settings, chats)
    steps = settings.max_train_steps or settings.num_epochs * math.ceil(
        len(examples) / settings.micro_batch_size
    )
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
    gguf_adapter = None
    if settings.export_gguf:
        from h2ogpt.finetune.gguf_export import export_gguf_adapter

        written = export_gguf_adapter(model, out)
        gguf_adapter = str(written) if written else None
    return FinetuneResult(steps, losses[0], losses[-1], str(out), trainable, gguf_adapter)
