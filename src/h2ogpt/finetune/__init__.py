"""LoRA fine-tuning of the local model with peft (``python finetune.py``)."""

from h2ogpt.finetune.data import load_chats
from h2ogpt.finetune.options import FinetuneSettings
from h2ogpt.finetune.train import FinetuneResult, finetune

__all__ = ["FinetuneResult", "FinetuneSettings", "finetune", "load_chats"]
