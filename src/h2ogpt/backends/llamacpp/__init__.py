"""The llama.cpp engine: GGUF models run by llama.cpp (through llama-cpp-python's ctypes
binding) without torch, with the same batched primitives as the transformers engine.

``engine.LlamaCppEngine`` is the entry point; the other modules hold one idea each:
``native`` (the C library, its logging, a reusable batch), ``gguf`` (checking a model
file), ``model`` (weights, context, tokens, chat template), ``kv`` (sequence ids and KV
cells), ``runner`` (llama_decode and its logits), ``sampling`` (choosing tokens in
numpy), ``batch`` (the multi-sequence decode loop), ``scoring`` (continuations and
next-token log-probabilities), ``steps`` (step sessions).
"""
