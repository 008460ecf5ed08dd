"""Backends produce tokens: ``base`` is the contract (the batched primitives and the declared
capabilities), ``selection`` picks one from the Settings, ``builtin`` registers the built-in
ones; engines live in their own modules (transformers, llama.cpp, remote servers)."""
