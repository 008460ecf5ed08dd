"""Turn ``--name=value`` flags and ``H2OGPT_<NAME>`` environment variables into Settings.

Precedence: flag, then environment variable, then the field's default.
"""

from __future__ import annotations

import logging
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from h2ogpt.errors import ConfigError
from h2ogpt.plugins import PluginName
from h2ogpt.settings import ComposedSettings, Settings

log = logging.getLogger(__name__)

ENV_PREFIX = "H2OGPT_"
_NONE_WORDS = {"none", "null", ""}


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _accepts_none(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return type(None) in typing.get_args(annotation)
    return False


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def split_flags(argv: Sequence[str], model: type[BaseModel] = Settings) -> dict[str, Any]:
    """Parse ``--name=value``, ``--name value`` and bare ``--name`` (booleans) into raw strings;
    a list field's flag may repeat (``--image=a.png --image=b.png``) and gives a list."""
    fields = model.model_fields
    aliases: dict[str, str] = getattr(model, "flag_aliases", {})
    raw: dict[str, Any] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}: options are written --name=value")
        name, eq, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        if name in aliases and name not in fields:
            log.warning("--%s is deprecated: use --%s", name, aliases[name])
            name = aliases[name]
        if name not in fields:
            raise ConfigError(f"unknown flag --{name}; run with --help to list the flags")
        if not eq:
            if _is_bool(fields[name].annotation):
                value = "True"
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                i += 1
                value = args[i]
            else:
                raise ConfigError(f"flag --{name} needs a value: --{name}=VALUE")
        if _is_list(fields[name].annotation):
            raw.setdefault(name, []).append(value)
        else:
            raw[name] = value
        i += 1
    return raw


def _describe_error(error: dict[str, Any], sources: Mapping[str, str], raw: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error.get("loc") else "?"
    where = sources.get(name, f"--{name}")
    value = raw.get(name, "")
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}={value}: {message[:1].lower()}{message[1:]}"


def build_settings(
    argv: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    model: type[BaseModel] = Settings,
) -> Any:
    """Settings from flags and environment; raises ConfigError with one clear line."""
    environ = os.environ if environ is None else environ
    flag_values = split_flags(argv, model)
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in model.model_fields:
        if name in flag_values:
            raw[name], sources[name] = flag_values[name], f"--{name}"
        elif env_name(name) in environ:
            raw[name], sources[name] = environ[env_name(name)], env_name(name)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        annotation = model.model_fields[name].annotation
        if _is_list(annotation) and isinstance(value, str):  # an environment variable: comma-separated
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, str) and _accepts_none(annotation) and value.strip().lower() in _NONE_WORDS:
            value = None
        values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_describe_error(exc.errors()[0], sources, raw)) from None


def _type_name(info: Any) -> str:
    annotation = info.annotation
    names = [m for m in info.metadata if isinstance(m, PluginName)]
    if names:
        return "|".join(names[0].choices())
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(annotation))
    if _accepts_none(annotation):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _type_name(FieldInfo(annotation=inner[0])) + "|None"
    return getattr(annotation, "__name__", str(annotation))


def _field_lines(name: str, field: FieldInfo) -> list[str]:
    default = field.get_default(call_default_factory=True)
    return [f"  --{name}=<{_type_name(field)}>  (default: {default!r})", f"      {field.description or ''}"]


def help_text(program: str, model: type[BaseModel] = Settings) -> str:
    """The ``--help`` page, generated from the Settings fields, one section per option group."""
    lines = [
        f"usage: {program} [--name=value ...]",
        "",
        f"Every flag can also be set by the environment variable {ENV_PREFIX}<NAME>.",
    ]
    groups = model.option_groups() if issubclass(model, ComposedSettings) else [model]
    shown: set[str] = set()
    for group in groups:
        names = [n for n in group.model_fields if n in model.model_fields and n not in shown]
        if not names:
            continue
        lines += ["", f"{(group.__doc__ or group.__name__).strip().splitlines()[0]}"]
        for name in names:
            lines += _field_lines(name, model.model_fields[name])
            shown.add(name)
    rest = [n for n in model.model_fields if n not in shown]
    if rest:
        lines.append("")
        for name in rest:
            lines += _field_lines(name, model.model_fields[name])
    return "\n".join(lines)
