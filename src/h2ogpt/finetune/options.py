"""The options of ``finetune.py``: the model, sampling, storage and runtime groups of
Settings plus h2oGPT's fine-tuning flags."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from h2ogpt.settings import ComposedSettings, ModelOptions, RuntimeOptions, SamplingDefaults, StorageOptions


class FinetuneOptions(BaseModel):
    """What to train on, the LoRA shape and the optimizer (h2oGPT's finetune.py names)."""

    model_config = ConfigDict(extra="forbid")

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
    max_train_steps: int = Field(0, ge=0, description="Optimizer steps to train; 0: use --num_epochs.")
    micro_batch_size: int = Field(4, ge=1, description="Examples per optimizer step.")
    learning_rate: float = Field(3e-4, gt=0.0, description="AdamW learning rate.")
    cutoff_len: int = Field(512, ge=2, description="Longest example in tokens; longer ones are truncated.")
    export_gguf: bool = Field(
        True,
        description="Also write adapter.gguf, the adapter as the llama.cpp engine applies it "
        "(--lora_weights=OUTPUT_DIR/adapter.gguf with the same GGUF base model).",
    )
    train_on_inputs: bool = Field(
        False, description="Also train on the prompt tokens; False: loss only on the answer tokens."
    )


class FinetuneSettings(
    ComposedSettings, ModelOptions, SamplingDefaults, StorageOptions, RuntimeOptions, FinetuneOptions
):
    """Every option of ``finetune.py``."""

    # --max_steps was this program's name for --max_train_steps (it now means step search's steps)
    flag_aliases: ClassVar[dict[str, str]] = {"max_steps": "max_train_steps"}
