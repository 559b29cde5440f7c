"""The REST API fuzzed from its own OpenAPI document (schemathesis), against the real services.

Every operation but the SSE stream gets valid and invalid requests (bodies, path and query
parameters, headers), generated from the document the running gateway serves. Whatever is
sent: no 5xx other than 503/504/507 (a dependency down, the disk full) and the 502 the README
documents for the channel status route when the site could not be asked (the site is a closed
port here), every error carries ``{"detail", "code", "correlation_id"}``, a response whose
status the document declares matches its schema. Afterwards no ffmpeg runs, every service is
alive, the gateway is ready and nothing was written outside records/ and sessions/.

The operations are driven with ``APIOperation.as_strategy`` under plain Hypothesis rather than
``schemathesis.pytest.from_fixture``: the latter sets ``Function._nodeid``, which pytest 9.2 no
longer has (AttributeError before any request is sent)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.app import create_app
from gateway.settings import GatewaySettings
from simlab.harness import Stack
from tests.fuzz.support import DEPENDENCY_STATUSES, assert_stack_healthy, is_error_body, tree

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 40
#: Never fuzzed: the SSE stream does not end (its bad input has tests in tests/e2e).
SKIPPED = {("GET", "/api/events")}


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the gateway's document, known at collection time
    without a running gateway (the test checks the served document has the same ones)."""
    document = create_app(GatewaySettings(build_commit="fuzz", build_time="fuzz")).openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if (method.upper(), path) not in SKIPPED
    ]


OPERATIONS = _operations()
#: status counts per operation, printed at the end of the module (``pytest -s``).
SEEN: dict[str, Counter[int]] = {}


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json", timeout=10)


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client


#: The one documented 502: the channel status route when the site kept us from knowing.
STATUS_ROUTE_502 = ("BLOCKED_BY_CHALLENGE", "AGE_GATE", "UPSTREAM_")


def no_server_error(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """No 5xx but 503/504 (a service down), 507 (LOW_DISK_SPACE), and the status route's
    documented 502 for a site that could not be asked (here: always, it is a closed port)."""
    status = response.status_code
    if status == 502 and case.operation.path == "/api/model/{username}/status":
        assert str(response.json().get("code", "")).startswith(STATUS_ROUTE_502), response.text
        return
    assert status < 500 or status in DEPENDENCY_STATUSES, (
        f"{case.method} {case.formatted_path} -> {status}: {response.text[:500]}"
    )


def error_body(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """Every 4xx/5xx is the API's one error shape, and carries the request id."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{case.method} {case.formatted_path} -> {response.status_code}: not JSON: "
            f"{response.text[:300]!r}"
        ) from None
    assert is_error_body(body), f"{response.status_code} with body {body!r}"
    assert body["correlation_id"] == response.headers.get("x-request-id", [""])[0]


CHECKS = [no_server_error, error_body, response_schema_conformance]

_NAME = r"[A-Za-z0-9_]{1,24}"
_PATH_NAMES: dict[str, st.SearchStrategy[str]] = {
    # "watched" is in the watch list (see ``watched``), so PUT/GET/DELETE also find one.
    "username": st.one_of(st.just("watched"), st.from_regex(rf"\A{_NAME}\Z")),
    "person": st.from_regex(r"\A[A-Za-z0-9_-]{1,24}\Z"),
    "session_id": st.from_regex(r"\A[0-9a-f]{12}\Z"),
}


def plausible_names(path: str) -> st.SearchStrategy[dict[str, str]]:
    """Path parameters the gateway's own checks accept (so the request goes further)."""
    files = (
        st.sampled_from(["stream.m3u8", "seg_1.ts", "stream0.ts"])
        if path.startswith("/streams/sessions/")
        else st.from_regex(rf"\A{_NAME}\.(ts|mp4)\Z")
    )
    wanted = {name: _PATH_NAMES[name] for name in _PATH_NAMES if "{" + name + "}" in path}
    if "{filename}" in path:
        wanted["filename"] = files
    return st.fixed_dictionaries(wanted)


def with_target(case_and_target: tuple[Case[Any], str]) -> Case[Any]:
    """The case with its body's ``target`` (if it has one) replaced."""
    case, target = case_and_target
    if isinstance(case.body, dict) and "target" in case.body:
        case.body["target"] = target
    return case


def plausible_targets(dead_site: str) -> st.SearchStrategy[str]:
    """Usernames and playlist URLs that pass the checks and reach the resolver (which finds
    the site and every URL at a closed local port)."""
    return st.one_of(
        st.from_regex(rf"\A{_NAME}\Z"),
        st.from_regex(r"\A[a-z0-9]{1,12}\Z").map(lambda n: f"{dead_site}/live/{n}/master.m3u8"),
        st.from_regex(r"\A[a-z0-9]{1,12}\Z").map(lambda n: f"{dead_site}/{n}/"),
    )


@pytest.fixture(scope="module", autouse=True)
def watched(http: httpx.Client) -> None:
    """A channel for the fuzzed model routes to find (a fuzzed DELETE may remove it)."""
    created = http.post("/api/models", json={"username": "watched", "autoRecord": False})
    assert created.status_code == 201, created.text


@pytest.fixture(scope="module", autouse=True)
def after_the_run(stack: Stack) -> Iterator[None]:
    """The whole run leaves no ffmpeg, no dead service and nothing outside records/sessions."""
    started = time.monotonic()
    yield
    assert_stack_healthy(stack)
    stray = {p for p in tree(stack.output_dir) if not p.startswith(("records", "sessions"))}
    assert stray <= {"streamrec.db", "streamrec.db-wal", "streamrec.db-shm"}, stray
    with httpx.Client(base_url=stack.base_url, timeout=10) as client:
        sessions = client.get("/api/status", params={"all": "true"}).json()
    assert all(not s["running"] for s in sessions), sessions
    lines = [f"{op}: {dict(sorted(c.items()))}" for op, c in SEEN.items()]
    print(f"\nschema fuzz: {time.monotonic() - started:.1f} s", *lines, sep="\n  ")  # noqa: T201


def test_the_served_document_has_the_fuzzed_operations(api_schema: Any) -> None:
    served = {
        (result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()
    }
    assert served - SKIPPED == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_survives_any_request(
    api_schema: Any, stack: Stack, http: httpx.Client, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        # The document gives no pattern for names the gateway checks, so random ones are all
        # 400s: also send names that pass, to reach the recorder and the file system.
        plausible_names(path).flatmap(
            lambda names: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=names)
        ),
        # Likewise most random targets are refused before the resolver; these reach it.
        st.tuples(
            operation.as_strategy(GenerationMode.POSITIVE),
            plausible_targets(stack.env_extra["CHATURBATE_BASE_URL"]),
        ).map(with_target),
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Case[Any]) -> None:
        response = case.call(base_url=stack.base_url, timeout=30)
        SEEN.setdefault(f"{method} {path}", Counter())[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        if (method, path) == ("POST", "/api/start") and response.status_code < 300:
            # Offline, no start can succeed; should one, it must not keep recording.
            http.post(f"/api/stop/{response.json()['id']}")

    run()


def test_the_document_declares_the_errors_the_api_sends(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    answered = http.post("/api/start", json={})
    declared = document["paths"]["/api/start"]["post"]["responses"]
    assert str(answered.status_code) in declared, (answered.status_code, sorted(declared))
