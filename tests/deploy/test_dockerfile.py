"""The Dockerfile and .dockerignore, statically (no Docker engine here): a multi-stage build on
a pinned slim Python, Debian's ffmpeg with tini and util-linux, a non-root user with a fixed
id, tini as the exec-form ENTRYPOINT, a HEALTHCHECK through servicekit.healthcheck, and COPY
lines that name files which exist and reach the build context."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
UID = 10001


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # index of the FROM it belongs to (-1 before the first)


def parse(text: str) -> list[Instruction]:
    """Instructions with continuations joined and comments dropped (as BuildKit does)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue  # comments, parser directives, and comment lines inside a continuation
        if not line and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    result, stage = [], -1
    for line in logical:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        result.append(Instruction(keyword, value.strip(), stage))
    return result


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def of(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in instructions if i.keyword == keyword]


def flags_and_args(value: str) -> tuple[dict[str, str], list[str]]:
    """``--from=build --chown=1:1 a b c`` -> ({from: build, chown: 1:1}, [a, b, c])."""
    words = shlex.split(value)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, flag_value = words.pop(0)[2:].partition("=")
        flags[key] = flag_value
    return flags, words


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    args = {}
    for arg in of(instructions, "ARG"):
        if arg.stage == -1:
            name, _, default = arg.value.partition("=")
            args[name] = default
    return args


def base_images(instructions: list[Instruction]) -> list[str]:
    args = global_args(instructions)
    images = []
    for instruction in of(instructions, "FROM"):
        image = instruction.value.split()[0]
        images.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], image))
    return images


def env_of(instructions: list[Instruction], stage: int) -> dict[str, str]:
    env = {}
    for instruction in of(instructions, "ENV"):
        if instruction.stage == stage:
            for word in shlex.split(instruction.value):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def final_stage(instructions: list[Instruction]) -> int:
    return of(instructions, "FROM")[-1].stage


# --- base and stages ---------------------------------------------------------------------------


def test_bases_are_pinned_slim_python_3_11_bookworm(instructions: list[Instruction]) -> None:
    for image in base_images(instructions):
        name, _, tag = image.partition(":")
        if name == "node":
            # Only the dashboard's build stage; nothing of it but the built assets is kept.
            assert tag.startswith("20-bookworm-slim"), tag
            continue
        assert name == "python"
        assert tag and tag != "latest"
        assert tag.startswith("3.11-slim"), tag
        assert "bookworm" in tag, "Debian release pinned with the tag"


def test_multi_stage_build_copies_the_virtualenv(instructions: list[Instruction]) -> None:
    froms = of(instructions, "FROM")
    assert len(froms) >= 3
    assert " AS web" in froms[0].value and " AS build" in froms[1].value
    copies = [c for c in of(instructions, "COPY") if c.stage == final_stage(instructions)]
    assert [flags_and_args(c.value) for c in copies] == [
        ({"from": "build"}, ["/opt/streamrec", "/opt/streamrec"])
    ]
    installs = [r.value for r in of(instructions, "RUN") if r.stage == 1]
    assert any("/opt/streamrec/bin/pip install ." in run for run in installs)


def test_the_dashboard_assets_are_built_from_the_lockfile_and_packaged(
    instructions: list[Instruction],
) -> None:
    web = [r.value for r in of(instructions, "RUN") if r.stage == 0]
    assert any(run.startswith("npm ci") for run in web), "npm ci: exactly the lockfile"
    assert any("npm run build" in run for run in web)
    copies = [flags_and_args(c.value) for c in of(instructions, "COPY") if c.stage == 1]
    assert ({"from": "web"}, ["/src/gateway/web/dist/", "gateway/web/dist/"]) in copies
    checks = [r.value for r in of(instructions, "RUN") if r.stage == 1]
    assert any("dashboard assets missing" in run for run in checks)


def test_runtime_installs_ffmpeg_tini_and_util_linux(instructions: list[Instruction]) -> None:
    runs = [r.value for r in of(instructions, "RUN") if r.stage == final_stage(instructions)]
    (apt,) = [run for run in runs if "apt-get install" in run]
    packages = set(apt.split("apt-get install", 1)[1].split("&&")[0].split())
    assert {"ffmpeg", "tini", "util-linux", "--no-install-recommends"} <= packages
    assert "rm -rf /var/lib/apt/lists/*" in apt
    for tool in ("/usr/bin/ffmpeg", "/usr/bin/tini", "/usr/bin/setsid", "/usr/bin/setpriv"):
        assert tool in apt, f"the build checks {tool}"


def test_environment(instructions: list[Instruction]) -> None:
    env = env_of(instructions, final_stage(instructions))
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LOG_FORMAT"] == "json"
    assert env["FFMPEG_PATH"] == "/usr/bin/ffmpeg"
    assert env["OUTPUT_DIR"] == "/data"
    assert env["PATH"].startswith("/opt/streamrec/bin:")
    for host in ("RESOLVER_HOST", "RECORDER_HOST", "GATEWAY_HOST"):
        assert env[host] == "0.0.0.0"


# --- user, entrypoint, command, healthcheck -------------------------------------------------


def test_runs_as_a_fixed_non_root_user_who_owns_data(instructions: list[Instruction]) -> None:
    users = of(instructions, "USER")
    assert users and users[-1].stage == final_stage(instructions)
    assert users[-1].value == f"{UID}:{UID}", "numeric, so runAsNonRoot can verify it"
    runs = " ".join(r.value for r in of(instructions, "RUN"))
    assert f"--gid {UID}" in runs and f"--uid {UID}" in runs
    assert re.search(
        rf"install -d -o {UID} -g {UID} (-m \d+ )?/data\b|chown (-R )?{UID}:{UID} /data\b", runs
    )


def test_entrypoint_is_tini_in_exec_form(instructions: list[Instruction]) -> None:
    (entrypoint,) = of(instructions, "ENTRYPOINT")
    argv = json.loads(entrypoint.value)
    assert argv[0] in ("tini", "/usr/bin/tini")
    assert argv[-1] == "--"
    assert "-g" not in argv, "SIGTERM goes to the service only; it stops ffmpeg itself"


def test_default_command_is_the_gateway(instructions: list[Instruction]) -> None:
    (cmd,) = of(instructions, "CMD")
    assert json.loads(cmd.value) == ["python", "-m", "gateway"]


def test_healthcheck_uses_servicekit_healthcheck(instructions: list[Instruction]) -> None:
    (check,) = of(instructions, "HEALTHCHECK")
    options, _, command = check.value.partition(" CMD ")
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in options
    argv = json.loads(command)
    assert argv[:5] == ["python", "-m", "servicekit.healthcheck", "http", argv[4]]
    assert argv[4] == "http://127.0.0.1:8080/healthz"
    assert (REPO / "servicekit" / "healthcheck.py").is_file()


def test_exposes_the_service_ports(instructions: list[Instruction]) -> None:
    exposed = {int(p) for e in of(instructions, "EXPOSE") for p in e.value.split()}
    assert {8080, 50051, 50052} <= exposed


def test_labels_follow_oci_and_the_version_matches_pyproject(
    instructions: list[Instruction],
) -> None:
    labels = " ".join(label.value for label in of(instructions, "LABEL"))
    for key in ("title", "description", "version", "revision", "created"):
        assert f"org.opencontainers.image.{key}=" in labels
    args = {
        name: default
        for name, _, default in (a.value.partition("=") for a in of(instructions, "ARG"))
    }
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert args["VERSION"] == project["version"]


def test_no_latest_anywhere(instructions: list[Instruction]) -> None:
    assert not re.search(r":latest\b", DOCKERFILE.read_text())


# --- build context -----------------------------------------------------------------------------


def ignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern decides; a path is out when it or a parent
    directory is matched. Supports the forms used here: names, globs and ``**/`` prefixes."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        assert "**" not in body.removeprefix("**/"), f"unsupported pattern {pattern}"
        for candidate in candidates:
            if body.startswith("**/"):
                hit = fnmatch.fnmatchcase(candidate.rsplit("/", 1)[-1], body[3:])
            else:
                hit = fnmatch.fnmatchcase(candidate, body)
            if hit:
                result = not negate
    return result


def copied_sources(instructions: list[Instruction]) -> list[str]:
    sources = []
    for copy in of(instructions, "COPY") + of(instructions, "ADD"):
        flags, args = flags_and_args(copy.value)
        if "from" not in flags:
            sources += args[:-1]
    return sources


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = ignore_patterns()
    for name in (
        ".git",
        ".venv",
        "node_modules",
        "data",
        ".cache",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".env",
    ):
        assert ignored(name, patterns), name
    assert ignored("gateway/__pycache__/app.cpython-311.pyc", patterns)
    assert ignored("streamrec.egg-info/PKG-INFO", patterns)
    assert ignored("data/records/demo/x.ts", patterns)


def test_every_copied_file_exists_and_is_in_the_context(instructions: list[Instruction]) -> None:
    patterns = ignore_patterns()
    sources = copied_sources(instructions)
    assert sources
    for source in sources:
        assert not any(ch in source for ch in "*?["), f"name files explicitly: {source}"
        assert (REPO / source).exists(), f"COPY {source}: no such file"
        assert not ignored(source.rstrip("/"), patterns), f"COPY {source}: in .dockerignore"


def test_the_build_gets_every_package_pip_installs(instructions: list[Instruction]) -> None:
    """``pip install .`` packages what pyproject's find includes: all of it must be copied."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {
        path.parent.relative_to(REPO).parts[0]
        for path in REPO.glob("*/**/*.py")
        if any(fnmatch.fnmatchcase(path.parent.relative_to(REPO).parts[0], p) for p in include)
    }
    assert {"gateway", "servicekit", "streamrec"} <= tops
    copied = {source.rstrip("/") for source in copied_sources(instructions)}
    assert tops <= copied, f"not copied: {sorted(tops - copied)}"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
