"""An h2oGPT plug-in, as a third party would write one: it registers a backend, an outcome
reward and a vector store through h2oGPT's public hooks (see ``pyproject.toml`` for the
entry point that makes h2oGPT find it)."""

from __future__ import annotations

from h2ogpt.backends.selection import BackendSpec
from h2ogpt.documents.stores.base import VectorStoreSpec
from h2ogpt.plugins import hookimpl
from h2ogpt.scaling.specs import RewardSpec
from h2ogpt_example_plugin.echo import EchoBackend
from h2ogpt_example_plugin.longest import LongestAnswer
from h2ogpt_example_plugin.memory_store import drop_memory_store, open_memory_store


@hookimpl
def register_backends(register):
    register(
        BackendSpec(
            "example-echo",
            lambda settings: EchoBackend(),
            "answers with the question, upper-cased (sample k adds k '!')",
        )
    )


@hookimpl
def register_outcome_rewards(register):
    register(RewardSpec("example-longest", lambda task: LongestAnswer(), "prefers the longest answer"))


@hookimpl
def register_vector_stores(register):
    register(
        VectorStoreSpec(
            "example-memory",
            open_memory_store,
            drop_memory_store,
            lambda settings: "example-memory",
            "chunks kept in this process's memory",
        )
    )
