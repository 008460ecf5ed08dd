"""Rewards for inference-time scaling: ``outcome`` scores whole answers, ``process`` scores each
step; ``hf_models`` loads Hugging Face reward models from local folders."""
