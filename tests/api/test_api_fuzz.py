"""Over a thousand generated requests, valid and malformed, from our own /openapi.json
(schemathesis): none may get a 5xx."""

from __future__ import annotations

import contextlib
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase

pytest_plugins = ["support.api_fixtures"]

EXAMPLES_PER_MODE = 150  # x (positive, negative) x operations with a body or a parameter


def reachable(case):
    """Most schema-valid bodies name a random model (404) or ask for what the API refuses
    (tools, token ids, best_of): take those out, so most of them reach the pipeline."""
    body = case.body
    if isinstance(body, dict):
        for name in ("model", "best_of", "suffix", "logit_bias", "tools", "tool_choice"):
            body.pop(name, None)
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                message.pop("tool_calls", None)
                message.pop("tool_call_id", None)
                if message.get("role") in ("tool", "function"):
                    message["role"] = "user"
    return case


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(fuzz_server):
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    def check(case) -> None:
        response = case.call(base_url=fuzz_server.url, timeout=60)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(
                f"{response.status_code} {case.method} {case.path} {case.body!r:.300}: {response.text:.300}"
            )

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            settings = hypothesis.settings(
                max_examples=EXAMPLES_PER_MODE,
                database=None,
                deadline=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            strategy = operation.as_strategy(generation_mode=mode)
            if mode == schemathesis.GenerationMode.POSITIVE:
                strategy = strategy.map(reachable)
            run = settings(hypothesis.given(case=strategy)(check))
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # nothing to negate
                run()
    assert not failures, "\n".join(failures[:20])
    assert sum(statuses.values()) >= 1000, statuses
    assert statuses[200] >= 50 and statuses[400] >= 100, statuses  # both answered and refused requests ran
