"""The Kubernetes manifests under deploy/k8s, offline: every resource of the base and of the
rendered example overlay validates (kubernetes-validate, strict, Kubernetes 1.31), and the
properties the deployment promises hold: probes, security contexts, resources, the shutdown
budget, the Secret and the NetworkPolicy path gateway -> recorder -> resolver."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]  # no type hints shipped
import pytest

from tests.deploy.manifests import (
    DEPLOY,
    K8S_BASE,
    K8S_EXAMPLE,
    Doc,
    all_containers,
    allowed_variables,
    container_port,
    containers,
    env_value,
    find,
    ident,
    kustomization,
    load_docs,
    module_of,
    of_kind,
    pod_template,
    quantity,
    referenced_files,
    render,
    selects,
    split_image,
    workloads,
)

K8S_VERSION = "1.31"
VARIANTS = {"base": K8S_BASE, "example": K8S_EXAMPLE}
SERVICE_MODULES = {"resolver_service", "recorder_service", "gateway"}
SECRET = "streamrec-secrets"
CONFIG = "streamrec-config"


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return render(VARIANTS[request.param])


def rendered() -> list[tuple[str, Doc]]:
    return [(name, doc) for name, path in sorted(VARIANTS.items()) for doc in render(path)]


def by_module(docs: list[Doc], module: str) -> tuple[Doc, Doc]:
    """The (workload, container) that runs ``python -m module``."""
    found = [(w, c) for w, c in all_containers(docs) if module_of(c) == module]
    assert len(found) == 1, f"{module}: {len(found)} containers"
    return found[0]


def config(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = find(docs, "ConfigMap", CONFIG)["data"]
    return data


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc", [d for _, d in rendered()], ids=[f"{v}:{ident(d)}" for v, d in rendered()]
)
def test_every_resource_validates_strictly(doc: Doc) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_yaml_file_under_deploy_is_used_by_a_kustomization() -> None:
    """No stray manifest escapes validation: each file is a kustomization, a resource or a
    patch of one (and every one of those exists)."""
    used = referenced_files(K8S_BASE) | referenced_files(K8S_EXAMPLE)
    for path in used:
        assert path.is_file(), f"listed but missing: {path}"
    on_disk = {p.resolve() for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml")}
    assert on_disk == used, f"not used by any kustomization: {sorted(on_disk - used)}"


def test_base_is_namespace_agnostic() -> None:
    assert "namespace" not in kustomization(K8S_BASE)
    for doc in render(K8S_BASE):
        assert "namespace" not in doc["metadata"], ident(doc)
        assert doc["kind"] != "Namespace"


def test_every_resource_is_labelled_part_of_streamrec(docs: list[Doc]) -> None:
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "streamrec", ident(doc)


def test_no_two_resources_share_a_kind_and_name(docs: list[Doc]) -> None:
    ids = [ident(d) for d in docs]
    assert len(ids) == len(set(ids))


# --- the overlay -----------------------------------------------------------------------------


def test_example_overlay_sets_namespace_image_replicas_resources_and_storage() -> None:
    base, example = render(K8S_BASE), render(K8S_EXAMPLE)
    namespace = kustomization(K8S_EXAMPLE)["namespace"]
    assert find(example, "Namespace", namespace)
    for doc in example:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, ident(doc)
    for _, container in all_containers(example):
        assert container["image"] == "registry.example.org/streamrec:0.1.0"
    resolver = find(example, "Deployment", "resolver")
    assert resolver["spec"]["replicas"] > find(base, "Deployment", "resolver")["spec"]["replicas"]
    patched = containers(resolver)[0]["resources"]
    assert patched != containers(find(base, "Deployment", "resolver"))[0]["resources"]
    # the strategic merge kept the rest of the container
    assert containers(resolver)[0]["readinessProbe"]["grpc"]["port"] == 50051

    def storage(docs: list[Doc]) -> str:
        claim = find(docs, "StatefulSet", "recorder")["spec"]["volumeClaimTemplates"][0]
        return str(claim["spec"]["resources"]["requests"]["storage"])

    assert quantity(storage(example)) > quantity(storage(base))


def test_example_namespace_enforces_the_restricted_pod_security_standard() -> None:
    namespace = find(render(K8S_EXAMPLE), "Namespace", kustomization(K8S_EXAMPLE)["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- workloads -------------------------------------------------------------------------------


def test_the_three_services_and_their_workloads(docs: list[Doc]) -> None:
    resolver, _ = by_module(docs, "resolver_service")
    recorder, _ = by_module(docs, "recorder_service")
    gateway, _ = by_module(docs, "gateway")
    assert ident(resolver) == "Deployment/resolver"
    assert resolver["spec"]["replicas"] >= 2
    assert ident(recorder) == "StatefulSet/recorder"
    assert recorder["spec"]["replicas"] == 1
    # the gateway serves the recorder's files: a container of the recorder's pod
    assert gateway is recorder
    assert {module_of(c) for _, c in all_containers(docs)} == SERVICE_MODULES


def test_base_runs_two_resolvers() -> None:
    assert find(render(K8S_BASE), "Deployment", "resolver")["spec"]["replicas"] == 2


def test_statefulset_has_a_headless_governing_service(docs: list[Doc]) -> None:
    recorder = find(docs, "StatefulSet", "recorder")
    service = find(docs, "Service", recorder["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert selects(service["spec"]["selector"], pod_template(recorder)["metadata"]["labels"])


def test_containers_keep_the_image_entrypoint(docs: list[Doc]) -> None:
    """``command`` would replace ENTRYPOINT and with it tini (PID 1, reaping ffmpeg)."""
    for _, container in all_containers(docs):
        assert "command" not in container, container["name"]
        assert module_of(container) in SERVICE_MODULES


def test_images_are_pinned(docs: list[Doc]) -> None:
    for _, container in all_containers(docs):
        _, tag = split_image(container["image"])
        assert tag and tag != "latest", container["image"]
        assert container["imagePullPolicy"] == "IfNotPresent"


def test_pods_mount_no_service_account_token_and_get_no_service_links(docs: list[Doc]) -> None:
    """Service links would inject RECORDER_PORT=tcp://... and break the settings."""
    accounts = {d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")}
    for workload in workloads(docs):
        pod = pod_template(workload)["spec"]
        assert pod["automountServiceAccountToken"] is False, ident(workload)
        assert pod["enableServiceLinks"] is False, ident(workload)
        assert pod["serviceAccountName"] in accounts


def test_every_pod_and_container_is_locked_down(docs: list[Doc]) -> None:
    for workload in workloads(docs):
        pod = pod_template(workload)["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] == 10001
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        for container in containers(workload):
            sc = container["securityContext"]
            where = f"{ident(workload)}/{container['name']}"
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] == 10001, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert not sc.get("privileged", False), where


def test_every_container_has_requests_within_limits(docs: list[Doc]) -> None:
    for workload, container in all_containers(docs):
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            request = quantity(resources["requests"][kind])
            limit = quantity(resources["limits"][kind])
            assert 0 < request <= limit, f"{ident(workload)}/{container['name']} {kind}"


def test_writable_paths_are_volumes(docs: list[Doc]) -> None:
    """Read-only root filesystem: /tmp is an emptyDir of each container's own; /data is the
    recorder's claim, read-write for the recorder and read-only for the gateway."""
    for workload in workloads(docs):
        pod = pod_template(workload)["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        tmp_volumes = []
        for container in containers(workload):
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            for mount in mounts.values():
                assert mount["name"] in volumes or mount["name"] in claims, mount
            tmp = mounts["/tmp"]
            assert "emptyDir" in volumes[tmp["name"]]
            assert "sizeLimit" in volumes[tmp["name"]]["emptyDir"]
            tmp_volumes.append(tmp["name"])
        assert len(tmp_volumes) == len(set(tmp_volumes)), "one /tmp per container"

    recorder = find(docs, "StatefulSet", "recorder")
    (claim,) = recorder["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    _, rec = by_module(docs, "recorder_service")
    _, gw = by_module(docs, "gateway")
    data_dir = config(docs)["OUTPUT_DIR"]
    (rec_data,) = [m for m in rec["volumeMounts"] if m["mountPath"] == data_dir]
    (gw_data,) = [m for m in gw["volumeMounts"] if m["mountPath"] == data_dir]
    assert rec_data["name"] == gw_data["name"] == claim["metadata"]["name"]
    assert not rec_data.get("readOnly", False)
    assert gw_data.get("readOnly") is True
    # the volume is made writable for the image's user
    assert pod_template(recorder)["spec"]["securityContext"]["fsGroup"] == 10001


# --- probes, ports and addresses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "port_setting"),
    [("resolver_service", "RESOLVER_PORT"), ("recorder_service", "RECORDER_PORT")],
)
def test_grpc_services_have_native_grpc_probes(
    docs: list[Doc], module: str, port_setting: str
) -> None:
    _, container = by_module(docs, module)
    port = container_port(container, "grpc")
    assert int(env_value(container, port_setting)) == port
    assert env_value(container, port_setting.replace("_PORT", "_HOST")) == "0.0.0.0"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == port, probe
        assert "service" not in container[probe]["grpc"], "the server as a whole"
        assert container[probe]["timeoutSeconds"] >= 1


def test_recorder_startup_probe_covers_crash_recovery(docs: list[Doc]) -> None:
    """Recovery runs before the server listens: liveness must not kill it meanwhile."""
    _, container = by_module(docs, "recorder_service")
    startup = container["startupProbe"]
    assert startup["grpc"]["port"] == container_port(container, "grpc")
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_gateway_probes_healthz_and_readyz(docs: list[Doc]) -> None:
    _, container = by_module(docs, "gateway")
    port = container_port(container, "http")
    assert int(env_value(container, "GATEWAY_PORT")) == port == 8080
    assert env_value(container, "GATEWAY_HOST") == "0.0.0.0"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert container_port(container, get["port"]) == port


def test_metrics_ports_match_the_setting(docs: list[Doc]) -> None:
    for module, setting in (
        ("resolver_service", "RESOLVER_METRICS_PORT"),
        ("recorder_service", "RECORDER_METRICS_PORT"),
    ):
        _, container = by_module(docs, module)
        assert int(env_value(container, setting)) == container_port(container, "metrics")


def test_gateway_reaches_the_recorder_in_its_own_pod(docs: list[Doc]) -> None:
    recorder, rec = by_module(docs, "recorder_service")
    gateway, gw = by_module(docs, "gateway")
    assert gateway is recorder
    assert env_value(gw, "RECORDER_ADDR") == f"127.0.0.1:{container_port(rec, 'grpc')}"


def test_recorder_reaches_the_resolver_through_its_service(docs: list[Doc]) -> None:
    _, rec = by_module(docs, "recorder_service")
    resolver, res = by_module(docs, "resolver_service")
    host, _, port = env_value(rec, "RESOLVER_ADDR").rpartition(":")
    service = find(docs, "Service", host)
    assert service["spec"].get("clusterIP") != "None"
    assert selects(service["spec"]["selector"], pod_template(resolver)["metadata"]["labels"])
    (entry,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    assert container_port(res, entry["targetPort"]) == container_port(res, "grpc")


def test_every_service_selects_pods_and_targets_their_ports(docs: list[Doc]) -> None:
    for service in of_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        targets = [
            w for w in workloads(docs) if selects(selector, pod_template(w)["metadata"]["labels"])
        ]
        assert len(targets) == 1, f"{ident(service)} selects {len(targets)} workloads"
        for entry in service["spec"]["ports"]:
            ports = []
            for container in containers(targets[0]):
                try:
                    ports.append(container_port(container, entry["targetPort"]))
                except KeyError:
                    pass
            assert len(ports) == 1, f"{ident(service)} port {entry['name']}"


def test_gateway_service_serves_http_8080(docs: list[Doc]) -> None:
    (entry,) = find(docs, "Service", "gateway")["spec"]["ports"]
    assert entry["port"] == 8080


# --- configuration and secrets -----------------------------------------------------------------


def test_env_and_configmap_name_real_settings(docs: list[Doc]) -> None:
    allowed = allowed_variables()
    assert set(config(docs)) <= allowed, set(config(docs)) - allowed
    for _, container in all_containers(docs):
        names = {e["name"] for e in container.get("env", [])}
        assert names <= allowed, names - allowed
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] == CONFIG


def test_recorder_grace_period_exceeds_the_shutdown_budget(docs: list[Doc]) -> None:
    """SIGTERM: ffmpeg gets STOP_TIMEOUT after ``q`` and again after SIGINT, then the finalizer
    SHUTDOWN_GRACE / 2; the kubelet's SIGKILL must come after all of it."""
    settings = config(docs)
    shutdown_grace = float(settings["SHUTDOWN_GRACE"])
    stop_timeout = float(settings["STOP_TIMEOUT"])
    recorder = find(docs, "StatefulSet", "recorder")
    grace = pod_template(recorder)["spec"]["terminationGracePeriodSeconds"]
    assert grace > shutdown_grace
    assert grace > 2 * stop_timeout + shutdown_grace / 2 + 10  # + stopping the server, margin


def test_resolver_grace_period_exceeds_its_shutdown_grace(docs: list[Doc]) -> None:
    resolver = find(docs, "Deployment", "resolver")
    grace = pod_template(resolver)["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(config(docs)["RESOLVER_SHUTDOWN_GRACE"])


def test_secret_holds_placeholders_for_the_token_and_the_cookie() -> None:
    secret = find(render(K8S_BASE), "Secret", SECRET)
    assert set(secret["stringData"]) == {"API_TOKEN", "CHATURBATE_COOKIE"}
    assert all(value == "" for value in secret["stringData"].values()), "no real secrets"
    assert "data" not in secret


def test_secrets_reach_only_their_service_and_are_optional(docs: list[Doc]) -> None:
    keys = set(find(docs, "Secret", SECRET)["stringData"])
    used: dict[str, str] = {}
    for _, container in all_containers(docs):
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            assert ref["name"] == SECRET
            assert ref["key"] in keys
            assert ref["optional"] is True
            assert entry["name"] == ref["key"]
            used[ref["key"]] = module_of(container)
    assert used == {"API_TOKEN": "gateway", "CHATURBATE_COOKIE": "resolver_service"}


# --- network policies --------------------------------------------------------------------------

NAMESPACE_OF_TESTS = "streamrec"


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (labels, namespace) or an outside address."""

    ip: str
    labels: dict[str, str] | None = None
    namespace: str = NAMESPACE_OF_TESTS
    namespace_labels: dict[str, str] = field(default_factory=dict)

    @property
    def is_pod(self) -> bool:
        return self.labels is not None

    def ns_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace, **self.namespace_labels}


def pod(labels: dict[str, str], namespace: str = NAMESPACE_OF_TESTS, ip: str = "10.42.1.7") -> Peer:
    return Peer(ip=ip, labels=labels, namespace=namespace)


def _peer_matches(peers: list[Doc] | None, peer: Peer) -> bool:
    if not peers:  # no from/to: everyone
        return True
    for entry in peers:
        if "ipBlock" in entry:
            block = entry["ipBlock"]
            address = ipaddress.ip_address(peer.ip)
            network = ipaddress.ip_network(block["cidr"])
            if address.version == network.version and address in network:
                if not any(
                    address in ipaddress.ip_network(e)
                    for e in block.get("except", [])
                    if ipaddress.ip_network(e).version == address.version
                ):
                    return True
            continue
        if not peer.is_pod:
            continue
        ns_selector = entry.get("namespaceSelector")
        if ns_selector is None:
            ns_ok = peer.namespace == NAMESPACE_OF_TESTS
        else:
            ns_ok = selects(ns_selector.get("matchLabels", {}), peer.ns_labels())
        pod_selector = entry.get("podSelector", {})
        assert peer.labels is not None
        if ns_ok and selects(pod_selector.get("matchLabels", {}), peer.labels):
            return True
    return False


def _port_matches(ports: list[Doc] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        assert isinstance(entry.get("port", 0), int), "name ports by number in policies"
        if entry.get("protocol", "TCP") == protocol and entry.get("port", port) == port:
            return True
    return False


def _allows(
    policies: list[Doc], subject: Peer, other: Peer, port: int, proto: str, way: str
) -> bool:
    """Whether ``subject``'s policies for direction ``way`` let ``other`` in / out."""
    if not subject.is_pod or subject.namespace != NAMESPACE_OF_TESTS:
        return True  # not ours: its own policies are not modelled
    assert subject.labels is not None
    mine = [
        p
        for p in policies
        if selects(p["spec"]["podSelector"].get("matchLabels", {}), subject.labels)
        and way in p["spec"]["policyTypes"]
    ]
    if not mine:
        return True
    key, peers_key = ("ingress", "from") if way == "Ingress" else ("egress", "to")
    return any(
        _port_matches(rule.get("ports"), port, proto) and _peer_matches(rule.get(peers_key), other)
        for p in mine
        for rule in p["spec"].get(key, [])
    )


def connects(docs: list[Doc], src: Peer, dst: Peer, port: int, proto: str = "TCP") -> bool:
    policies = of_kind(docs, "NetworkPolicy")
    return _allows(policies, src, dst, port, proto, "Egress") and _allows(
        policies, dst, src, port, proto, "Ingress"
    )


def labels_of(docs: list[Doc], kind: str, name: str) -> dict[str, str]:
    labels: dict[str, str] = pod_template(find(docs, kind, name))["metadata"]["labels"]
    return labels


def test_policies_are_explicit_and_open_only_ports_their_pods_have(docs: list[Doc]) -> None:
    for policy in of_kind(docs, "NetworkPolicy"):
        assert policy["spec"]["policyTypes"], ident(policy)
        selector = policy["spec"]["podSelector"]["matchLabels"]
        selected = [
            w for w in workloads(docs) if selects(selector, pod_template(w)["metadata"]["labels"])
        ]
        assert selected, f"{ident(policy)} selects no pod"
        open_ports = {
            p["containerPort"] for w in selected for c in containers(w) for p in c["ports"]
        }
        for rule in policy["spec"].get("ingress", []):
            for entry in rule.get("ports", []):
                assert entry["port"] in open_ports, f"{ident(policy)}: {entry['port']}"


def test_ingress_is_denied_by_default_to_every_streamrec_pod(docs: list[Doc]) -> None:
    deny = [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["spec"]["policyTypes"] == ["Ingress"] and not p["spec"].get("ingress")
    ]
    assert len(deny) == 1
    selector = deny[0]["spec"]["podSelector"]["matchLabels"]
    for workload in workloads(docs):
        assert selects(selector, pod_template(workload)["metadata"]["labels"]), ident(workload)


def test_path_is_gateway_to_recorder_to_resolver(docs: list[Doc]) -> None:
    resolver = pod(labels_of(docs, "Deployment", "resolver"), ip="10.42.2.5")
    recorder = pod(labels_of(docs, "StatefulSet", "recorder"), ip="10.42.3.6")
    _, rec = by_module(docs, "recorder_service")
    _, res = by_module(docs, "resolver_service")
    _, gw = by_module(docs, "gateway")
    rec_grpc, res_grpc = container_port(rec, "grpc"), container_port(res, "grpc")
    http = container_port(gw, "http")
    stranger = pod({"app": "something-else"})
    elsewhere = pod({"app": "ingress-controller"}, namespace="ingress")
    internet = Peer(ip="203.0.113.9")

    # anyone may use the gateway (its pod is the recorder's)
    for client in (stranger, elsewhere, internet):
        assert connects(docs, client, recorder, http)
    # the recorder (with the gateway in its pod) calls the resolver ...
    assert connects(docs, recorder, resolver, res_grpc)
    # ... and nobody else does
    for client in (stranger, elsewhere, internet):
        assert not connects(docs, client, resolver, res_grpc)
    # the recorder's gRPC port: not for the resolver, nor for unlabelled pods
    assert not connects(docs, resolver, recorder, rec_grpc)
    assert not connects(docs, resolver, recorder, http)
    assert not connects(docs, stranger, recorder, rec_grpc)
    assert not connects(docs, elsewhere, recorder, rec_grpc)
    # ... only for labelled clients (the streamrec CLI)
    assert connects(docs, pod({"streamrec.io/client": "true"}), recorder, rec_grpc)


def test_metrics_ports_only_from_the_monitoring_namespace(docs: list[Doc]) -> None:
    resolver = pod(labels_of(docs, "Deployment", "resolver"), ip="10.42.2.5")
    recorder = pod(labels_of(docs, "StatefulSet", "recorder"), ip="10.42.3.6")
    prometheus = pod({"app": "prometheus"}, namespace="monitoring")
    for target, module in ((resolver, "resolver_service"), (recorder, "recorder_service")):
        port = container_port(by_module(docs, module)[1], "metrics")
        assert connects(docs, prometheus, target, port)
        assert not connects(docs, pod({"app": "x"}), target, port)
    res_grpc = container_port(by_module(docs, "resolver_service")[1], "grpc")
    assert not connects(docs, prometheus, resolver, res_grpc)


@pytest.mark.parametrize(
    ("kind", "name"), [("Deployment", "resolver"), ("StatefulSet", "recorder")]
)
def test_egress_reaches_dns_and_the_internet_but_not_the_lan(
    docs: list[Doc], kind: str, name: str
) -> None:
    me = pod(labels_of(docs, kind, name))
    dns = Peer(ip="10.96.0.10")
    assert connects(docs, me, dns, 53, "UDP")
    assert connects(docs, me, dns, 53, "TCP")
    for cdn in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert connects(docs, me, Peer(ip=cdn), 443)
        assert connects(docs, me, Peer(ip=cdn), 80)
    for private in ("169.254.169.254", "192.168.1.10", "10.0.0.1", "172.20.0.3", "fd00::1"):
        assert not connects(docs, me, Peer(ip=private), 80), private


def test_kustomization_lists_only_existing_files() -> None:
    for directory in (K8S_BASE, K8S_EXAMPLE):
        k = kustomization(directory)
        for entry in k.get("resources", []):
            assert (directory / entry).exists(), entry
        for patch in k.get("patches", []):
            if "path" in patch:
                assert (directory / patch["path"]).is_file(), patch["path"]


def test_base_files_hold_only_what_the_kustomization_renders() -> None:
    listed = [Path(K8S_BASE / e) for e in kustomization(K8S_BASE)["resources"]]
    from_files = [ident(d) for path in listed for d in load_docs(path)]
    assert from_files == [ident(d) for d in render(K8S_BASE)]
