"""The transformers engine: HF folders, HF cache ids and GGUF files converted once; LoRA adapters,
8/4-bit on a GPU. ``engine.TransformersEngine`` holds the batched primitives, ``decoding`` the batched
decoding over one KV cache, ``step_session`` the KV step sessions, ``loading`` the model loading."""
