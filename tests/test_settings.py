"""Settings are composed of option groups; no field may be declared twice."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from h2ogpt.cli.flags import build_settings, help_text
from h2ogpt.documents.make_db import MakeDbSettings
from h2ogpt.documents.options import DocumentOptions
from h2ogpt.errors import ConfigError
from h2ogpt.finetune import FinetuneSettings
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.settings import ComposedSettings, ModelOptions, Settings, StorageOptions


def test_settings_are_the_union_of_their_groups():
    groups = Settings.option_groups()
    assert ModelOptions in groups and ScalingOptions in groups and DocumentOptions in groups
    declared = [name for group in groups for name in group.model_fields]
    assert sorted(declared) == sorted(Settings.model_fields)  # every field in exactly one group
    assert len(declared) == len(set(declared))


def test_a_group_is_read_as_its_own_object():
    settings = Settings(budget=4, scaling_algorithm="best-of-n", top_k_docs=3)
    scaling = settings.group(ScalingOptions)
    assert isinstance(scaling, ScalingOptions) and (scaling.budget, scaling.scaling_algorithm) == (
        4,
        "best-of-n",
    )
    assert settings.group(DocumentOptions).top_k_docs == 3


def test_a_field_declared_twice_is_refused_at_definition():
    class Extra(BaseModel):
        max_steps: int = Field(0)

    with pytest.raises(TypeError, match="'max_steps' is declared by both"):

        class Clash(ComposedSettings, ScalingOptions, Extra):
            pass

    with pytest.raises(TypeError, match="'data_dir' is declared by both"):

        class Shadow(ComposedSettings, StorageOptions):
            data_dir: str = "x"


def test_commands_compose_only_what_they_use():
    assert (
        "max_train_steps" in FinetuneSettings.model_fields
        and "max_steps" not in FinetuneSettings.model_fields
    )
    assert "json_output" in MakeDbSettings.model_fields and "json" not in MakeDbSettings.model_fields
    assert "scaling_algorithm" not in MakeDbSettings.model_fields
    assert "--max_train_steps" in help_text("finetune.py", FinetuneSettings)


def test_old_flag_names_still_work_with_a_notice(caplog):
    assert build_settings(["--max_steps=7"], {}, FinetuneSettings).max_train_steps == 7
    assert build_settings(["--json"], {}, MakeDbSettings).json_output is True
    assert "deprecated" in caplog.text and "--max_train_steps" in caplog.text
    with pytest.raises(ConfigError, match="unknown flag --json"):
        build_settings(["--json"], {}, Settings)


def test_help_has_one_section_per_group():
    page = help_text("generate.py")
    assert "Which model answers, and how it is loaded." in page
    assert page.index("--base_model") < page.index("--scaling_algorithm") < page.index("--db_type")
