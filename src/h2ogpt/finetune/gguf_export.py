"""Export a trained peft LoRA adapter as a GGUF LoRA adapter, which the llama.cpp engine
applies natively (``--lora_weights=adapter.gguf``).

The layout is llama.cpp's (as its ``convert_lora_to_gguf.py`` writes it): metadata
``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``; for each adapted
weight, ``<gguf weight name>.lora_a`` (rank x inputs) and ``.lora_b`` (outputs x rank). llama.cpp
scales by alpha / rank as peft does. llama.cpp's converter reorders the rows of the query and
key projections of llama-architecture models (its rotary layout); the same reordering is applied
to ``lora_b`` of those weights so the adapter matches the converted base model.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter.gguf"
# model_type -> the projections whose rows llama.cpp's converter permutes, and with which head count
PERMUTED_ROWS = {"llama": {"q_proj": "num_attention_heads", "k_proj": "num_key_value_heads"}}
LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<base>.+)\.lora_(?P<part>[AB])(?:\.default)?\.weight$")


def _permute_rows(weights: Any, n_head: int) -> Any:
    """llama.cpp's row order for rotary embeddings: each head's two halves interleaved."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def export_gguf_adapter(model: Any, out_dir: Path) -> Path | None:
    """Write ``adapter.gguf`` for a peft model in ``out_dir``; None (logged) for a base model
    architecture llama.cpp's GGUF naming does not know."""
    import gguf
    from peft import get_peft_model_state_dict

    config = model.get_base_model().config
    model_type = config.model_type
    arch = next((a for a in gguf.MODEL_ARCH if gguf.MODEL_ARCH_NAMES[a] == model_type), None)
    if arch is None:
        log.warning("No GGUF adapter written: llama.cpp has no architecture named %r", model_type)
        return None
    peft_config = model.peft_config["default"]
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in get_peft_model_state_dict(model).items():
        match = LORA_KEY.match(key)
        if match is None:
            continue
        gguf_name = names.get_name(match["base"] + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            log.warning("No GGUF adapter written: no GGUF name for %s", match["base"])
            return None
        weights = tensor.detach().float().cpu().numpy()
        projection = match["base"].rsplit(".", 1)[-1]
        heads = PERMUTED_ROWS.get(model_type, {}).get(projection)
        if match["part"] == "B" and heads:
            weights = _permute_rows(weights, getattr(config, heads))
        pairs.setdefault(gguf_name, {})[match["part"]] = weights
    path = Path(out_dir) / ADAPTER_FILE
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(peft_config.lora_alpha))
    for name, parts in sorted(pairs.items()):
        writer.add_tensor(f"{name}.lora_a", parts["A"])
        writer.add_tensor(f"{name}.lora_b", parts["B"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    log.info("GGUF LoRA adapter for llama.cpp: %s (%d weights)", path, len(pairs))
    return path
