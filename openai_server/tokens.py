"""Token strings for logprobs, as OpenAI shapes them.

Backends report each token as its decoded text, so the text is passed on as is and its
``bytes`` are its UTF-8 encoding.
"""

from __future__ import annotations

import math


def token_text(token: str) -> str:
    return token


def token_bytes(token: str) -> bytes:
    return token.encode("utf-8", errors="replace")


def finite_logprob(value: float) -> float:
    """JSON has no -inf: OpenAI writes -9999.0 for "very unlikely"."""
    return value if math.isfinite(value) else -9999.0
