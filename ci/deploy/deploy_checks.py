"""Static checks of the deployment files: the compose file, the Helm chart, its examples.

Offline and fast. The chart is rendered by Helm's own engine (the ``helm-python-sdk`` package:
Helm's Go SDK behind a C ABI, no helm binary), every rendered object is validated against the
Kubernetes OpenAPI schemas that ``kubernetes-validate`` ships, and ``docker-compose.yml`` is
validated against the Compose Specification's JSON schema (vendored in ``schemas/``).

``python ci/deploy/deploy_checks.py`` runs them all and exits 1 on any failure; the tests in
``tests/deploy`` call the same functions.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "h2ogpt"
EXAMPLES = CHART / "examples"
INVALID_VALUES = Path(__file__).resolve().parent / "invalid-values"
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest with schemas.
KUBE_VERSIONS = ("1.29.0", "1.37.0")
RELEASE = "h2ogpt"
NAMESPACE = "h2ogpt"


class CheckError(Exception):
    """A check failed; the message says which file and what."""


# --- Helm ---------------------------------------------------------------------------------------


def _helm():
    import helm_python  # imported late: it loads an 85 MB native library

    return helm_python


def load_values(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise CheckError(f"{path}: a values file must be a YAML mapping")
    return data


def value_files() -> list[Path]:
    """The example values files (the default values are rendered as well, as ``None``)."""
    return sorted(EXAMPLES.glob("*.yaml"))


def expected_failure(path: Path) -> str:
    """The message an invalid values file must fail with: its first line, ``# expect: TEXT``."""
    first = path.read_text().splitlines()[0]
    match = re.fullmatch(r"#\s*expect:\s*(.+)", first.strip())
    if not match:
        raise CheckError(f"{path}: the first line must be '# expect: <part of the error message>'")
    return match.group(1).strip()


@dataclass
class Rendered:
    """A rendered chart: objects by template file, and NOTES.txt."""

    objects: dict[str, list[dict[str, Any]]]
    notes: str

    def all(self) -> list[dict[str, Any]]:
        return [obj for objs in self.objects.values() for obj in objs]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.all() if obj.get("kind") == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        if len(found) != 1:
            raise CheckError(f"expected one {kind} {name or ''}, the chart rendered {len(found)}")
        return found[0]


def render(values: Mapping[str, Any] | None = None, *, release: str = RELEASE) -> Rendered:
    """Render the chart as ``helm template`` would (values checked against values.schema.json).

    Raises ``CheckError`` with Helm's message when the values are refused or a template fails.
    """
    helm = _helm()
    try:
        with helm.Chart.load(CHART) as chart:
            files = chart.render(dict(values or {}), name=release, namespace=NAMESPACE, is_install=True)
    except helm.HelmError as exc:
        raise CheckError(str(exc).strip()) from exc
    objects: dict[str, list[dict[str, Any]]] = {}
    notes = ""
    for template, text in sorted(files.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        try:
            docs = [doc for doc in yaml.safe_load_all(text) if doc]
        except yaml.YAMLError as exc:
            raise CheckError(f"{template}: the rendered text is not YAML: {exc}") from exc
        for doc in docs:
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                raise CheckError(f"{template}: rendered a document that is not a Kubernetes object")
        if docs:
            objects[template] = docs
    return Rendered(objects, notes)


def validate_objects(rendered: Rendered, versions: tuple[str, ...] = KUBE_VERSIONS) -> list[str]:
    """Every object against the Kubernetes schemas (strict: unknown fields are errors)."""
    errors = []
    for template, objs in rendered.objects.items():
        for obj in objs:
            label = f"{template}: {obj['kind']} {obj.get('metadata', {}).get('name', '?')}"
            for version in versions:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except jsonschema.ValidationError as exc:
                    path = ".".join(str(p) for p in exc.absolute_path) or "(top)"
                    errors.append(f"{label} (Kubernetes {version}): {path}: {exc.message}")
                except kubernetes_validate.utils.SchemaNotFoundError as exc:
                    errors.append(f"{label} (Kubernetes {version}): {exc}")
    names = [(o["kind"], o["metadata"]["name"]) for o in rendered.all()]
    errors += [
        f"duplicate object {kind} {name}" for kind, name in set(names) if names.count((kind, name)) > 1
    ]
    return errors


def lint(values: Mapping[str, Any] | None = None, chart: Path = CHART) -> list[str]:
    """``helm lint --strict`` (warnings count as errors; info lines such as a missing icon do not).

    Helm lints in "lint mode", where the templates' ``fail`` calls do not stop it: ``render``
    is what checks those.
    """
    helm = _helm()
    report = helm.lint(chart, dict(values or {}), strict=True, kube_version=f"v{KUBE_VERSIONS[-1]}")
    problems = [f"{m['path']}: {m['error']}" for m in report.get("messages", []) if m["severity"] >= 2]
    return problems + list(report.get("errors") or [])


def unknown_settings(values: Mapping[str, Any]) -> list[str]:
    """Names under ``settings`` that are not h2oGPT flags (needs the h2ogpt package)."""
    from h2ogpt.settings import Settings

    return sorted(set(values.get("settings") or {}) - set(Settings.model_fields))


def env_from_configmap(rendered: Rendered) -> dict[str, str]:
    return dict(rendered.one("ConfigMap", RELEASE)["data"])


# --- Compose ------------------------------------------------------------------------------------

# $$, ${...} (one level of nesting in the default: ${A:-${B}}), $NAME
_VAR = re.compile(r"\$(?:\$|\{(?P<braced>(?:[^{}]|\{[^{}]*\})*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    env = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise CheckError(f"{path}:{number}: expected NAME=value")
        env[name] = value
    return env


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``$$``."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("plain"):
            return env.get(match.group("plain"), "")
        braced = _BRACED.fullmatch(match.group("braced"))
        if not braced:
            raise CheckError(f"invalid interpolation {match.group(0)!r}")
        name, op, arg = braced.group("name", "op", "arg")
        value = env.get(name)
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return interpolate(arg, env) if unset else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise CheckError(f"${{{name}}} is required: {arg}")
            return value
        if op in (":+", "+"):
            return interpolate(arg, env) if value else ""
        return value or ""

    return _VAR.sub(substitute, text)


def compose_variables(path: Path = COMPOSE_FILE) -> set[str]:
    names = set()
    for match in _VAR.finditer(path.read_text()):
        if match.group("plain"):
            names.add(match.group("plain"))
        elif match.group("braced") is not None:
            braced = _BRACED.fullmatch(match.group("braced"))
            if braced:
                names.add(braced.group("name"))
                names |= compose_variables_in(braced.group("arg") or "")
    return names


def compose_variables_in(text: str) -> set[str]:
    return {
        m.group("plain") or _BRACED.fullmatch(m.group("braced")).group("name")
        for m in _VAR.finditer(text)
        if m.group(0) != "$$"
    }


def load_compose(path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as Compose reads it: interpolated (YAML anchors and merge keys resolved)."""
    raw = yaml.safe_load(path.read_text())
    env = dict(os.environ if env is None else env)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {walk(key): walk(value) for key, value in node.items()}
        return node

    return walk(raw)


def compose_schema_errors(model: Mapping[str, Any]) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = []
    for error in sorted(validator.iter_errors(model), key=lambda e: [str(p) for p in e.absolute_path]):
        while error.context:  # oneOf/anyOf: name the deepest failure, not the union
            error = max(error.context, key=lambda e: len(e.absolute_path))
        errors.append(f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}")
    return errors


def compose_reference_errors(model: Mapping[str, Any]) -> list[str]:
    """What the schema cannot see: dependencies, volumes and profiles that must line up."""
    errors = []
    services = model.get("services", {})
    volumes = set(model.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for dep, how in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            if dep not in services:
                errors.append(f"services.{name}.depends_on: no service {dep!r}")
                continue
            required = how.get("required", True)
            own, theirs = set(service.get("profiles") or []), set(services[dep].get("profiles") or [])
            if required and theirs and not theirs & own:
                errors.append(
                    f"services.{name} needs {dep} (profiles {sorted(theirs)}) but does not share a profile"
                )
            if how.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                errors.append(f"services.{name} waits for {dep} to be healthy, but {dep} has no healthcheck")
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and (not test or test[0] not in ("CMD", "CMD-SHELL", "NONE")):
            errors.append(f"services.{name}.healthcheck.test must start with CMD, CMD-SHELL or NONE")
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                errors.append(f"services.{name}.volumes: named volume {source!r} is not declared")
    return errors


# --- everything ---------------------------------------------------------------------------------


def _values_label(path: Path | None) -> str:
    return "values.yaml (defaults)" if path is None else str(path.relative_to(REPO))


def run_all() -> Iterator[tuple[str, list[str]]]:
    """(what was checked, its problems) for every check."""
    env = read_env_file()
    model = load_compose(env=env)
    yield "docker-compose.yml against the Compose Specification schema", compose_schema_errors(model)
    yield "docker-compose.yml references (depends_on, volumes, profiles)", compose_reference_errors(model)
    used = compose_variables()
    yield (
        "docker-compose.yml variables match .env.example",
        [
            *(f"${{{n}}} is used but not in .env.example" for n in sorted(used - set(env))),
            *(f"{n} is in .env.example but not used" for n in sorted(set(env) - used)),
        ],
    )
    yield "helm lint --strict (default values)", lint()
    for path in [None, *value_files()]:
        values = {} if path is None else load_values(path)
        label = _values_label(path)
        try:
            rendered = render(values)
        except CheckError as exc:
            yield f"render {label}", [str(exc)]
            continue
        yield f"render + validate {label} ({len(rendered.all())} objects)", validate_objects(rendered)
        yield (
            f"settings of {label} are h2oGPT flags",
            [f"settings.{n}: no such flag" for n in unknown_settings(values)],
        )
        if path is not None:
            yield f"helm lint --strict {label}", lint(values)
    for path in sorted(INVALID_VALUES.glob("*.yaml")):
        expected = expected_failure(path)
        try:
            render(load_values(path))
        except CheckError as exc:
            problems = [] if expected in str(exc) else [f"failed, but without {expected!r}: {exc}"]
        else:
            problems = [f"rendered, but should fail with {expected!r}"]
        yield f"refused: {_values_label(path)}", problems


def main() -> int:
    failed = 0
    for what, problems in run_all():
        if problems:
            failed += 1
            print(f"FAIL  {what}")
            for problem in problems:
                print(f"      {problem}")
        else:
            print(f"ok    {what}")
    print(
        f"deploy checks: {'FAILED' if failed else 'all passed'}" + (f" ({failed} failed)" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
