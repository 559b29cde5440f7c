"""Typed settings from environment variables: read once at start-up, fail fast with a clear
message when a value is malformed."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

#: The exit code of a service whose settings are malformed (sysexits' EX_CONFIG): a restart
#: cannot help, so ``make run``'s launcher stops everything instead of restarting it.
EXIT_BAD_SETTINGS = 78

_T = TypeVar("_T")


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def load_or_exit(load: Callable[[], _T]) -> _T:
    """``load()``, or exit with EXIT_BAD_SETTINGS after logging the malformed setting (one
    line naming it, not a traceback)."""
    try:
        return load()
    except SettingsError as exc:
        logging.getLogger("settings").critical(
            "bad setting: %s", exc, extra={"event.action": "settings.invalid"}
        )
        raise SystemExit(EXIT_BAD_SETTINGS) from None


class Env:
    """Typed accessors over an environment mapping (``os.environ`` by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def snapshot(self) -> dict[str, str]:
        """A copy of the variables (for settings read later by name, such as a site's)."""
        return dict(self._env)

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        """A string, or ``default`` when unset or blank."""
        return self._raw(name) or default

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        """An integer, at least ``minimum`` when given."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, not {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        """A number, at least ``minimum`` when given."""
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, not {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        """``1/true/yes/on`` or ``0/false/no/off`` (any case)."""
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, not {raw!r}")
