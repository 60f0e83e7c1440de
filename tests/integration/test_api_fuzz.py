"""The REST API fuzzed with schemathesis on every engine: requests generated from its own
/openapi.json, sent through the ASGI app (no network) as an admin, over a fresh workspace with
the sample data, a live campaign with a run, a template and an audience.

Every answer must be no 5xx, a status code, content type, headers and body the document
declares, a 4xx for data the document rules out, and a 401 without the token. Generation is
derandomized and bounded (EXAMPLES per operation and mode), so a run is reproducible and
quick; a failure lists every operation's first failure with a curl line to replay it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import load_all_checks
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.api_fixtures import STAYS, Api, serving, workspace_root

__all__ = ["workspace_root"]  # fixtures

EXAMPLES = 20  # per operation and generation mode
TEMPLATE = (
    "name: welcome\nchannel: email\nsubject: Hello\nbody: <p>Hello {{ recipient.first_name }}</p>\n"
)


def seed(api: Api) -> dict[str, Any]:
    """Objects the generated requests can name, so they reach past 'no such campaign'."""
    api.ok("POST", "/campaigns/upcoming_stays/publish", content=STAYS.read_text())
    run = api.ok("POST", "/campaigns/upcoming_stays/runs", 201)["run"]["id"]
    yaml_type = {"Content-Type": "application/yaml"}
    api.ok("PUT", "/templates/welcome", 201, content=TEMPLATE, headers=yaml_type)
    api.ok("PUT", "/audiences/gold", 201, json={"entity": "customer", "rule": "tier = 'gold'"})
    return {"name": "upcoming_stays", "run_id": run, "transition": "segments.gold"}


def known(operation: APIOperation, names: dict[str, Any]) -> dict[str, Any] | None:
    """Path parameters naming the seeded objects, or None when the path takes none."""
    params = {p.name for p in operation.path_parameters}
    if not params:
        return None
    found = {k: v for k, v in names.items() if k in params}
    if "name" in params:
        # viewer-token, not the admin's own: revoking it would make every later answer a 401
        found["name"] = {
            "/audiences/{name}": "gold",
            "/templates/{name}": "welcome",
            "/tokens/{name}": "viewer-token",
        }.get(operation.path, "upcoming_stays")
    return found


def fuzz_pass(
    operation: APIOperation,
    mode: GenerationMode,
    path_parameters: dict[str, Any] | None,
    auth: dict[str, str],
    statuses: Counter[int],
) -> None:
    """EXAMPLES requests to one operation; raises the first failure."""
    # Valid by the document is not valid by the library (a campaign body is any string, a rule
    # any object): a 422 for those is the API working, so positive data may be refused.
    excluded = [positive_data_acceptance]

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Case) -> None:
        headers: dict[str, str] | None = auth
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            headers = None  # headers are the data under test (a token malformed or missing)
        elif case.headers:
            case.headers.pop("Authorization", None)  # the admin's, not a generated one
        response = case.call_and_validate(headers=headers, excluded_checks=excluded)
        statuses[response.status_code] += 1

    try:
        send()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to negate (GET /health)


def fuzz(api: Api) -> tuple[list[str], dict[str, Counter[int]]]:
    """Every operation fuzzed: positive and negative data, then positive data naming the
    seeded objects; each operation's failures and the statuses it answered."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    load_all_checks()
    names = seed(api)
    auth = {"Authorization": f"Bearer {api.tokens['admin']}"}
    failures: list[str] = []
    statuses: dict[str, Counter[int]] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        seen = statuses.setdefault(operation.label, Counter())
        passes = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if (fixed := known(operation, names)) is not None:
            passes.append((GenerationMode.POSITIVE, fixed))
        for mode, path_parameters in passes:
            try:
                fuzz_pass(operation, mode, path_parameters, auth, seen)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
                failures.append(f"{operation.label} ({mode}, path {path_parameters}):\n{exc}")
    return failures, statuses


def test_the_api_survives_fuzzing(workspace_root: Path) -> None:
    with serving(workspace_root) as api:
        failures, statuses = fuzz(api)
    assert not failures, "\n\n".join(failures)
    routes = {
        f"{method.upper()} {path}"
        for path, item in api.app.openapi()["paths"].items()
        for method in item
    }
    assert set(statuses) == routes and len(routes) >= 30
    assert all(statuses.values()), statuses  # every operation answered
    print(f"{len(routes)} operations, {sum(sum(c.values()) for c in statuses.values())} requests")
    for label, seen in sorted(statuses.items()):
        print(f"  {label}: {dict(sorted(seen.items()))}")
