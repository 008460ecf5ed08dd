"""Remote backends: a vLLM, TGI, Ollama, OpenAI or other OpenAI-compatible server. ``spec`` parses
``--inference_server`` (no HTTP client imported), ``backend.RemoteBackend`` holds the primitives,
``parsing`` builds request bodies and reads responses."""
