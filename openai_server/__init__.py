"""The OpenAI-compatible HTTP API: a face over the h2oGPT core."""
