"""Errors a user can cause. Each carries a message that names the input and what to do."""

from __future__ import annotations


class H2OGPTError(Exception):
    """Base of every user-facing error: its message is shown as is, without a traceback."""


class ConfigError(H2OGPTError):
    """A bad flag, environment variable or setting value."""


class ModelNotFoundError(H2OGPTError):
    """The model named by the user cannot be found locally."""


class RequestError(H2OGPTError):
    """A request that cannot be answered as given (too long, bad field)."""


class UpstreamError(H2OGPTError):
    """A remote inference server failed or could not be reached."""
