"""h2oGPT: private, offline LLM chat and document QA."""

from h2ogpt.offline import enforce_offline

enforce_offline()

from h2ogpt.version import __version__  # noqa: E402

__all__ = ["__version__"]
