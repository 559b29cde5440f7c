"""docker-compose.yml, by structure (no Docker engine runs here): three services from one
image, the recordings volume (read-write for the recorder, read-only for the gateway),
healthchecks through servicekit.healthcheck, start order on health, the gateway on 8080, the
shutdown budget, a locked-down container, and only real settings in the environment."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.manifests import REPO, allowed_variables, load_docs

COMPOSE = REPO / "docker-compose.yml"
SERVICES = {"resolver": "resolver_service", "recorder": "recorder_service", "gateway": "gateway"}
SECRETS = ("API_TOKEN", "CHATURBATE_COOKIE")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    (doc,) = load_docs(COMPOSE)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def env(service: dict[str, Any]) -> dict[str, str]:
    environment = service["environment"]
    assert isinstance(environment, dict), "environment as a mapping"
    return {k: str(v) for k, v in environment.items()}


def seconds(duration: str) -> float:
    """A compose duration such as ``1m30s``, ``60s`` or ``500ms``."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"([0-9.]+)(ms|us|h|m|s)", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, duration
    return sum(float(amount) * units[unit] for amount, unit in parts)


def mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes in the long syntax (short ``src:dst[:ro]`` strings converted)."""
    result = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            volume = {"type": "volume", "source": source, "target": target}
            volume["read_only"] = mode == ["ro"]
        result.append(volume)
    return result


def test_three_services_from_one_image(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == set(SERVICES)
    for name, module in SERVICES.items():
        service = services[name]
        assert service["image"] == "streamrec:local"
        assert service["build"] in (".", {"context": "."})
        assert service["command"] == ["python", "-m", module]
        assert "entrypoint" not in service, "keep the image's tini"
        assert (REPO / module / "__main__.py").is_file()


def test_recordings_volume_is_rw_for_the_recorder_and_ro_for_the_gateway(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert "recordings" in compose["volumes"]
    (recorder,) = mounts(services["recorder"])
    (gateway,) = mounts(services["gateway"])
    for mount, service in ((recorder, "recorder"), (gateway, "gateway")):
        assert mount["type"] == "volume"
        assert mount["source"] == "recordings"
        assert mount["target"] == env(services[service])["OUTPUT_DIR"]
    assert not recorder.get("read_only", False)
    assert gateway["read_only"] is True
    assert not mounts(services["resolver"])


@pytest.mark.parametrize(
    ("name", "kind", "port_setting"),
    [("resolver", "grpc", "RESOLVER_PORT"), ("recorder", "grpc", "RECORDER_PORT")],
)
def test_grpc_services_check_their_health_service(
    services: dict[str, dict[str, Any]], name: str, kind: str, port_setting: str
) -> None:
    service = services[name]
    port = env(service)[port_setting]
    assert env(service)[port_setting.replace("_PORT", "_HOST")] == "0.0.0.0"
    test = service["healthcheck"]["test"]
    assert test == ["CMD", "python", "-m", "servicekit.healthcheck", kind, f"127.0.0.1:{port}"]


def test_gateway_checks_readyz(services: dict[str, dict[str, Any]]) -> None:
    gateway = services["gateway"]
    port = env(gateway)["GATEWAY_PORT"]
    assert env(gateway)["GATEWAY_HOST"] == "0.0.0.0"
    assert gateway["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "servicekit.healthcheck",
        "http",
        f"http://127.0.0.1:{port}/readyz",
    ]


def test_healthchecks_have_timings(services: dict[str, dict[str, Any]]) -> None:
    for service in services.values():
        check = service["healthcheck"]
        for key in ("interval", "timeout", "start_period"):
            assert seconds(check[key]) > 0
        assert seconds(check["timeout"]) > 3, "above the check's own 3 s timeout"
        assert check["retries"] >= 1


def test_recorder_start_period_covers_crash_recovery(services: dict[str, dict[str, Any]]) -> None:
    assert seconds(services["recorder"]["healthcheck"]["start_period"]) >= 60


def test_start_order_waits_for_health(services: dict[str, dict[str, Any]]) -> None:
    assert "depends_on" not in services["resolver"]
    assert services["recorder"]["depends_on"] == {"resolver": {"condition": "service_healthy"}}
    assert services["gateway"]["depends_on"] == {"recorder": {"condition": "service_healthy"}}


def test_peers_are_addressed_by_service_name(services: dict[str, dict[str, Any]]) -> None:
    assert env(services["recorder"])["RESOLVER_ADDR"] == (
        f"resolver:{env(services['resolver'])['RESOLVER_PORT']}"
    )
    assert env(services["gateway"])["RECORDER_ADDR"] == (
        f"recorder:{env(services['recorder'])['RECORDER_PORT']}"
    )


def test_only_the_gateway_is_published_on_8080(services: dict[str, dict[str, Any]]) -> None:
    assert services["gateway"]["ports"] == ["8080:8080"]
    assert env(services["gateway"])["GATEWAY_PORT"] == "8080"
    for name in ("resolver", "recorder"):
        assert "ports" not in services[name]


def test_networks_allow_only_gateway_to_recorder_to_resolver(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    nets = {name: set(service["networks"]) for name, service in services.items()}
    assert set(compose["networks"]) == set().union(*nets.values())
    assert nets["gateway"] & nets["recorder"]
    assert nets["recorder"] & nets["resolver"]
    assert not nets["gateway"] & nets["resolver"]


def test_recorder_stop_grace_exceeds_the_shutdown_budget(
    services: dict[str, dict[str, Any]],
) -> None:
    """SIGTERM: ffmpeg gets STOP_TIMEOUT after ``q`` and again after SIGINT, then the
    finalizer SHUTDOWN_GRACE / 2; Docker's SIGKILL must come after all of it."""
    recorder = services["recorder"]
    grace = seconds(recorder["stop_grace_period"])
    shutdown_grace = float(env(recorder)["SHUTDOWN_GRACE"])
    stop_timeout = float(env(recorder)["STOP_TIMEOUT"])
    assert grace > shutdown_grace
    assert grace > 2 * stop_timeout + shutdown_grace / 2 + 10  # + stopping the server, margin


def test_every_container_is_locked_down(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "cap_add" not in service, name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "privileged" not in service, name
        assert "user" not in service, "the image's non-root user"
        assert service["restart"] == "unless-stopped", name


def test_environment_names_real_settings(services: dict[str, dict[str, Any]]) -> None:
    allowed = allowed_variables()
    for name, service in services.items():
        unknown = set(env(service)) - allowed
        assert not unknown, f"{name}: {unknown}"


def test_interpolated_variables_are_real_settings() -> None:
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))
    assert used <= allowed_variables(), used - allowed_variables()


def test_secrets_come_from_the_environment_and_default_to_unset(
    services: dict[str, dict[str, Any]],
) -> None:
    """Never a literal secret in the file; unset (empty) unless the user provides one."""
    owners = {"API_TOKEN": "gateway", "CHATURBATE_COOKIE": "resolver"}
    for secret in SECRETS:
        holders = [name for name, service in services.items() if secret in env(service)]
        assert holders == [owners[secret]]
        assert env(services[owners[secret]])[secret] == f"${{{secret}:-}}"


def test_logs_are_json(services: dict[str, dict[str, Any]]) -> None:
    for service in services.values():
        assert env(service)["LOG_FORMAT"] == "json"
