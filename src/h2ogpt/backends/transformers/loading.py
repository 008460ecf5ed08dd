"""Load a local model and its tokenizer with transformers: folder, HF cache or GGUF.

GGUF files are dequantized by transformers, which is slow, so the converted model is
saved once under ``<data_dir>/converted/`` and later starts load it from there.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from h2ogpt.backends.model_source import ModelSource
from h2ogpt.errors import ConfigError, ModelNotFoundError
from h2ogpt.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    device: str
    dtype: str


def pick_device(settings: Settings) -> str:
    import torch

    if settings.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device=cuda: no CUDA GPU is visible; use --device=cpu or auto")
    if settings.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return settings.device


def pick_dtype(settings: Settings, device: str):
    import torch

    if device == "cuda":
        if settings.load_half or not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    return torch.bfloat16 if settings.load_half else torch.float32


def _quantization_config(settings: Settings, device: str):
    if not (settings.load_8bit or settings.load_4bit):
        return None
    if settings.load_8bit and settings.load_4bit:
        raise ConfigError("--load_8bit and --load_4bit: choose one of them")
    flag = "--load_8bit" if settings.load_8bit else "--load_4bit"
    if device != "cuda":
        raise ConfigError(f"{flag}=True needs a CUDA GPU (bitsandbytes); on CPU use --load_half or neither")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{flag}=True needs bitsandbytes: pip install -r reqs_optional/requirements_optional_gpu.txt"
        ) from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_8bit=settings.load_8bit, load_in_4bit=settings.load_4bit)


def converted_gguf_dir(source: ModelSource, data_dir: Path) -> Path:
    """Folder holding the transformers copy of a GGUF model, converting it the first time."""
    target = Path(data_dir) / "converted" / source.cache_key()
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info(
        "Converting %s to transformers format (first start only, ~30 s); cached in %s",
        source.location,
        target,
    )
    started = time.monotonic()
    folder, name = os.path.split(source.location)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
    # A GGUF-loaded model refuses save_pretrained until its (already applied) dequantizer is dropped.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        log.info("Another process converted %s first; using its copy", source.location)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Converted in %.1f s", time.monotonic() - started)
    return target


def _apply_lora(model, lora_weights: str, merge: bool):
    if not os.path.isfile(os.path.join(os.path.expanduser(lora_weights), "adapter_config.json")):
        raise ModelNotFoundError(
            f"--lora_weights={lora_weights}: no adapter_config.json there; give a peft adapter folder"
        )
    from peft import PeftModel

    log.info("Applying LoRA adapter %s", lora_weights)
    model = PeftModel.from_pretrained(model, os.path.expanduser(lora_weights), is_trainable=False)
    return model.merge_and_unload() if merge else model


def load_model(source: ModelSource, settings: Settings) -> LoadedModel:
    """Load weights and tokenizer for ``source`` as ``settings`` ask; never downloads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = pick_device(settings)
    dtype = pick_dtype(settings, device)
    quantization = _quantization_config(settings, device)
    location = source.location
    if source.kind == "gguf":
        location = str(converted_gguf_dir(source, settings.data_dir))
    log.info("Loading %s on %s (%s)", source.display_name, device, str(dtype).replace("torch.", ""))
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        location,
        local_files_only=True,
        dtype=dtype,
        quantization_config=quantization,
        device_map=device if quantization else None,
    )
    if quantization is None:
        model = model.to(device)
    if settings.lora_weights:
        model = _apply_lora(model, settings.lora_weights, merge=quantization is None)
    model.eval()
    log.info("Model ready in %.1f s", time.monotonic() - started)
    return LoadedModel(model, tokenizer, device, str(dtype).replace("torch.", ""))
