"""Helpers for the deployment tests: YAML loading, the README's settings, Kubernetes quantities
and a minimal kustomize (kustomize itself is not installed here).

``render`` implements exactly the kustomization features the deploy/ folder uses and refuses
any other, so a new feature fails a test instead of being silently ignored:
``resources`` (files and directories), ``namespace``, ``images`` and ``patches`` (strategic
merge patches with named-list merging of containers, env, volumes and volumeMounts; JSON 6902
patches with a ``target``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_EXAMPLE = DEPLOY / "k8s" / "overlays" / "example"

Doc = dict[str, Any]

#: Variables of the system, not of streamrec, that the deployment files set on purpose.
SYSTEM_VARIABLES = frozenset({"TZ"})


def load_docs(path: Path) -> list[Doc]:
    """Every non-empty YAML document of a file."""
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def documented_settings() -> set[str]:
    """The variable names in the first column of the README's configuration table."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names


def allowed_variables() -> set[str]:
    """Settings a deployment file may set: documented ones and the system's."""
    return documented_settings() | SYSTEM_VARIABLES


# --- quantities -------------------------------------------------------------------------------

_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity (``250m``, ``2``, ``384Mi``, ``50Gi``) as a number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if match is None or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a quantity I know: {value!r}")
    return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]


# --- workloads --------------------------------------------------------------------------------

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def ident(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def pod_template(workload: Doc) -> Doc:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: Doc = spec["template"]
    return template


def containers(workload: Doc) -> list[Doc]:
    pod = pod_template(workload)["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def all_containers(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for workload in workloads(docs):
        for container in containers(workload):
            yield workload, container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A matchLabels-style selector against a label set (an empty selector selects all)."""
    return all(labels.get(key) == value for key, value in selector.items())


def env_value(container: Doc, name: str) -> str:
    for entry in container.get("env", []):
        if entry["name"] == name and "value" in entry:
            return str(entry["value"])
    raise KeyError(f"container {container['name']} sets no {name}")


def container_port(container: Doc, port: int | str) -> int:
    """A container port by number or by name (KeyError when the container has no such port)."""
    for entry in container.get("ports", []):
        if port in (entry["containerPort"], entry.get("name")):
            return int(entry["containerPort"])
    raise KeyError(f"container {container['name']} has no port {port!r}")


def module_of(container: Doc) -> str:
    """The Python module a container runs (``args: [python, -m, MODULE]``)."""
    args = container.get("args", [])
    assert args[:2] == ["python", "-m"], f"{container['name']}: args {args}"
    return str(args[2])


# --- a minimal kustomize ----------------------------------------------------------------------

SUPPORTED_KUSTOMIZATION_KEYS = frozenset(
    {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
)
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume"}
)
#: Lists a strategic merge patch merges item by item, and the key that names an item.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}


class UnsupportedKustomization(AssertionError):
    """The kustomization uses something this minimal renderer does not implement."""


def kustomization(directory: Path) -> Doc:
    data = load_docs(directory / "kustomization.yaml")
    assert len(data) == 1
    doc = data[0]
    assert doc.get("apiVersion") == "kustomize.config.k8s.io/v1beta1"
    assert doc.get("kind") == "Kustomization"
    unknown = set(doc) - SUPPORTED_KUSTOMIZATION_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: {sorted(unknown)}")
    return doc


def referenced_files(directory: Path) -> set[Path]:
    """Every file a kustomization (and the ones it includes) names, itself included."""
    k = kustomization(directory)
    files = {directory / "kustomization.yaml"}
    for entry in k.get("resources", []):
        target = (directory / entry).resolve()
        files |= referenced_files(target) if target.is_dir() else {target}
    for patch in k.get("patches", []):
        if "path" in patch:
            files.add((directory / patch["path"]).resolve())
    return {f.resolve() for f in files}


def render(directory: Path) -> list[Doc]:
    """What ``kustomize build directory`` would output, for the features listed above."""
    k = kustomization(directory)
    docs: list[Doc] = []
    for entry in k.get("resources", []):
        target = directory / entry
        docs += render(target) if target.is_dir() else copy.deepcopy(load_docs(target))
    for patch in k.get("patches", []):
        _apply_patch(docs, directory, patch)
    for image in k.get("images", []):
        _set_image(docs, image)
    if "namespace" in k:
        for doc in docs:
            if doc["kind"] == "Namespace":
                doc["metadata"]["name"] = k["namespace"]
            elif doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = k["namespace"]
    return docs


def _apply_patch(docs: list[Doc], directory: Path, entry: Doc) -> None:
    unknown = set(entry) - {"path", "patch", "target"}
    if unknown:
        raise UnsupportedKustomization(f"patch options {sorted(unknown)}")
    body = (
        yaml.safe_load((directory / entry["path"]).read_text())
        if "path" in entry
        else yaml.safe_load(entry["patch"])
    )
    target = entry.get("target")
    if isinstance(body, list):
        if target is None:
            raise UnsupportedKustomization("a JSON 6902 patch needs a target")
        for doc in _targets(docs, target):
            for op in body:
                _json6902(doc, op)
        return
    selector = target or {
        "kind": body["kind"],
        "name": body["metadata"]["name"],
    }
    for doc in _targets(docs, selector):
        _strategic_merge(doc, body)


def _targets(docs: list[Doc], target: Doc) -> list[Doc]:
    unknown = set(target) - {"group", "version", "kind", "name"}
    if unknown:
        raise UnsupportedKustomization(f"target selectors {sorted(unknown)}")
    found = []
    for doc in docs:
        group, _, version = doc["apiVersion"].rpartition("/")
        if (
            target.get("kind", doc["kind"]) == doc["kind"]
            and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"]
            and target.get("group", group) == group
            and target.get("version", version) == version
        ):
            found.append(doc)
    assert found, f"patch target {target} matches nothing"
    return found


def _strategic_merge(base: Doc, patch: Doc) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            raise UnsupportedKustomization(f"directive {key}")
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _strategic_merge(base[key], value)
        elif isinstance(value, list) and isinstance(base.get(key), list):
            if key not in MERGE_KEYS:
                raise UnsupportedKustomization(f"merging the list {key!r}")
            merge_key = MERGE_KEYS[key]
            for item in value:
                match = [old for old in base[key] if old[merge_key] == item[merge_key]]
                if match:
                    _strategic_merge(match[0], item)
                else:
                    base[key].append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)


def _json6902(doc: Doc, op: Doc) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op["op"] in ("replace", "remove"):
        current = parent[int(last)] if isinstance(parent, list) else parent[last]
        assert current is not None, f"{op['path']} is not there to {op['op']}"
    if op["op"] in ("add", "replace"):
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op["op"] == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            else:
                parent[index] = copy.deepcopy(op["value"])
        else:
            parent[last] = copy.deepcopy(op["value"])
    elif op["op"] == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise UnsupportedKustomization(f"JSON 6902 op {op['op']}")


def split_image(image: str) -> tuple[str, str | None]:
    """``registry:5000/name:tag`` -> (``registry:5000/name``, ``tag``); no tag -> None."""
    if "@" in image:
        return image.split("@", 1)[0], None
    head, _, last = image.rpartition("/")
    if ":" in last:
        name, tag = last.split(":", 1)
        return (f"{head}/{name}" if head else name), tag
    return image, None


def _set_image(docs: list[Doc], entry: Doc) -> None:
    unknown = set(entry) - {"name", "newName", "newTag"}
    if unknown:
        raise UnsupportedKustomization(f"image options {sorted(unknown)}")
    for _, container in all_containers(docs):
        name, tag = split_image(container["image"])
        if name == entry["name"]:
            new_tag = entry.get("newTag", tag)
            new_name = entry.get("newName", name)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
