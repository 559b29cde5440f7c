"""What the code logs, read from its source: the ``event.action`` names and the field names of
``extra=``; and the checks both the static tests and the end-to-end ones apply to them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The code whose log lines reach Loki / Elasticsearch.
SOURCES = ("servicekit", "resolver_service", "recorder_service", "gateway", "tools/run_local.py")
#: Fields every JSON line may carry whatever the code passes (servicekit.logs.EcsJsonFormatter).
FORMATTER_FIELDS = frozenset(
    {
        "@timestamp",
        "log.level",
        "message",
        "log.logger",
        "service.name",
        "ecs.version",
        "correlation_id",
        "error.type",
        "error.message",
        "error.stack_trace",
        "log.origin.stack",
    }
)
# tools/run_local.py names its actions through _act("x") -> "launcher.x".
_LAUNCHER_HELPER = "_act"
# Calls whose keyword arguments become fields of a log line.
_FIELD_CALLS = {_LAUNCHER_HELPER, "decide"}
CATALOGUE = ROOT / "docs" / "OBSERVABILITY.md"


def source_files() -> Iterator[Path]:
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
        yield from (f for f in files if "_pb2" not in f.name)


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _constant_strings(node: ast.expr) -> list[str] | None:
    """The values an expression can take when they are all literals (a string, or a
    conditional between strings), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _constant_strings(node.body), _constant_strings(node.orelse)
        if body is not None and orelse is not None:
            return body + orelse
    return None


def actions_in(path: Path) -> tuple[set[str], list[str]]:
    """The ``event.action`` names a file emits, and the places where one is not a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    dynamic: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "event.action":
                    values = _constant_strings(value)
                    if values is None and path.name == "run_local.py":
                        continue  # the helper itself; its callers are read below
                    if values is None:
                        dynamic.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                    else:
                        found.update(values)
        elif isinstance(node, ast.Call) and _call_name(node) == _LAUNCHER_HELPER and node.args:
            values = _constant_strings(node.args[0])
            if values is None:
                dynamic.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            else:
                found.update(f"launcher.{v}" for v in values)
    return found, dynamic


def code_actions() -> tuple[set[str], list[str]]:
    """Every ``event.action`` the code emits, and where one is not a literal."""
    found: set[str] = set()
    dynamic: list[str] = []
    for path in source_files():
        names, places = actions_in(path)
        found |= names
        dynamic += places
    return found, dynamic


def catalogue_actions(text: str | None = None) -> set[str]:
    """The actions listed in OBSERVABILITY.md's catalogue (backticked names in its table's
    second column, notes in parentheses left out)."""
    text = CATALOGUE.read_text(encoding="utf-8") if text is None else text
    section = text.split("### `event.action` catalogue", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 4 or set(cells[2].strip()) <= {"-", ":"}:
            continue
        listed = re.sub(r"\([^)]*\)", "", cells[2])
        names.update(re.findall(r"`([a-z0-9_.]+)`", listed))
    names.discard("actions")
    return names


def _dict_keys(node: ast.expr) -> set[str]:
    if not isinstance(node, ast.Dict):
        return set()
    return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


def _sources_of(node: ast.expr) -> set[str]:
    """Names (variables or attributes) whose dict an ``extra=`` value is made of."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.BoolOp):
        return set().union(*(_sources_of(v) for v in node.values))
    if isinstance(node, ast.Dict):
        spread = [v for k, v in zip(node.keys, node.values, strict=True) if k is None]
        return set().union(*(_sources_of(v) for v in spread))
    return set()


def _assigned_name(target: ast.expr) -> str:
    return target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")


def fields_in(path: Path) -> set[str]:
    """The field names a file's log calls pass: ``extra=`` dicts, the dicts they are made of
    (assigned to a variable in the same file), ``as_log_extra()`` dicts, and the keyword
    arguments of the helpers that build them (``_act``, ``decide``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    keys: set[str] = set()
    sources: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "extra":
            keys |= _dict_keys(node.value)
            sources |= _sources_of(node.value)
        elif isinstance(node, ast.Call) and _call_name(node) in _FIELD_CALLS:
            for kw in node.keywords:
                keys |= {kw.arg} if kw.arg else _dict_keys(kw.value)
        elif isinstance(node, ast.FunctionDef) and node.name == "as_log_extra":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    keys |= _dict_keys(inner.value)
        elif isinstance(node, ast.Dict) and "event.action" in _dict_keys(node):
            keys |= _dict_keys(node)
    assignments = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))]
    for _ in range(3):  # a dict made of a dict made of a dict
        for node in assignments:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(_assigned_name(t) in sources for t in targets):
                keys |= _dict_keys(node.value)
                sources |= _sources_of(node.value)
    return keys


def code_fields() -> set[str]:
    """Every field name a JSON line of the services can carry, as far as the source says."""
    keys = set(FORMATTER_FIELDS)
    for path in source_files():
        keys |= fields_in(path)
    return keys


def value_and_object(keys: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs ``(a, a.b)``: a field that holds a value while another one makes it an object.
    Elasticsearch's default (dynamic) mapping turns dotted names into objects and rejects a
    document whose ``a`` is a value once ``a`` is an object (or the other way round)."""
    known = set(keys)
    clashes = []
    for key in sorted(known):
        parts = key.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            if prefix in known:
                clashes.append((prefix, key))
    return clashes
