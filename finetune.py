"""h2oGPT LoRA fine-tuning: ``python finetune.py --data_path=FILE --output_dir=DIR [--name=value ...]``.

A thin entry over :mod:`h2ogpt.finetune` (``--help`` lists every flag). Use the adapter with
``python generate.py --lora_weights=DIR``.
"""

from __future__ import annotations

import os
import sys

try:
    import h2ogpt  # noqa: F401
except ImportError:  # running from a checkout that was not pip-installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from h2ogpt.cli.entry import run_entry
from h2ogpt.finetune import FinetuneSettings, finetune

PROGRAM = "finetune.py"


def start(settings: FinetuneSettings) -> int:
    """Train, then print a one-line summary."""
    result = finetune(settings)
    print(
        f"Saved the LoRA adapter in {result.output_dir}: {result.steps} steps, loss "
        f"{result.first_loss:.4f} -> {result.last_loss:.4f}, {result.trainable_params:,} trainable "
        f"parameters. Use it with: python generate.py --engine=transformers --lora_weights={result.output_dir}"
        + (f" (llama.cpp: --lora_weights={result.gguf_adapter})" if result.gguf_adapter else "")
    )
    return 0


def entrypoint_main(argv: list[str] | None = None) -> int:
    return run_entry(PROGRAM, argv, start, settings_class=FinetuneSettings)


if __name__ == "__main__":
    sys.exit(entrypoint_main())
