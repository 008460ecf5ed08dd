"""The plug-in registries: built-ins registered as plug-ins, names validated, broken plug-ins skipped."""

from __future__ import annotations

import pytest

from h2ogpt import plugins
from h2ogpt.errors import ConfigError
from h2ogpt.plugins import PluginName, Registry, UnknownPlugin
from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings


def test_the_built_ins_are_ordinary_plugins():
    names = plugins.plugin_names()
    assert names[: len(plugins.BUILTIN_PLUGINS)] == list(plugins.BUILTIN_PLUGINS)
    assert {"llama.cpp", "transformers", "vllm", "openai_chat"} <= set(plugins.backends.names())
    assert plugins.scaling_algorithms.names()[:2] == ["self-consistency", "best-of-n"]
    assert {"judge", "self-certainty", "score-model"} <= set(plugins.outcome_rewards.names())
    assert {"chroma", "faiss"} <= set(plugins.vector_stores.names())
    assert {".pdf", ".docx", ".zip"} <= set(plugins.loaders.names())


def test_names_are_validated_against_the_registry():
    with pytest.raises(UnknownPlugin, match=r"--db_type=nope: no vector store of that name.*chroma, faiss"):
        plugins.vector_stores.get("nope", "--db_type")
    with pytest.raises(ValueError, match="choose one of none, self-consistency"):
        AnswerRequest.from_prompt("x", scaling_algorithm="self_consistency")
    with pytest.raises(ValueError, match="no vector store 'nope'"):
        Settings(db_type="nope")
    assert AnswerRequest.from_prompt("x", scaling_algorithm=None).scaling_algorithm is None


def test_the_schema_lists_the_registered_names():
    schema = AnswerRequest.model_json_schema()["properties"]["scaling_algorithm"]
    enum = next(b["enum"] for b in schema["anyOf"] if "enum" in b)
    assert enum[:3] == ["none", "self-consistency", "best-of-n"]
    assert Settings.model_json_schema()["properties"]["db_type"]["enum"][:2] == ["chroma", "faiss"]


def test_a_later_registration_wins_and_the_choice_filter_applies():
    registry = Registry("thing", "register_things")
    registry._collected = True  # a registry of this test's own, with no hooks to collect
    registry.add("a", 1, "one")
    registry.add("a", 2, "two")
    assert registry.get("a") == 2 and registry.entries()[0].plugin == "two"
    with pytest.raises(ConfigError, match=r"'b': no thing of that name is registered; choose one of a"):
        registry.get("b")
    local = PluginName("backends", also=("auto",), exclude_if="remote")
    assert "vllm" not in local.choices() and local.choices()[:3] == ["auto", "llama.cpp", "transformers"]


class Broken:
    @plugins.hookimpl
    def register_outcome_rewards(self, register):
        raise RuntimeError("this plug-in is broken")


def test_a_broken_plugin_is_skipped_and_logged(caplog):
    plugins.register_plugin(Broken(), "broken-plugin")
    assert "judge" in plugins.outcome_rewards.names()  # the others still work
    assert "broken-plugin failed to register" in caplog.text
