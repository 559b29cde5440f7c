"""Redaction of secrets (cookies, tokens, credentials, CDN query-string tokens) in log output."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Keys whose values are secret wherever they appear (extras, headers, dicts).
_SECRET_KEY = re.compile(
    r"(authorization|cookie|token|secret|password|passwd|api[_-]?key|session[_-]?key|"
    r"signature|credential)",
    re.IGNORECASE,
)
# Every query-string value of a URL: CDNs put tokens under any name (token, sig, session, e...),
# so values are dropped wholesale and only the names are kept for debugging.
_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"'<>]+=)[^&#\s\"'<>]*")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_USERINFO = re.compile(r"(://)[^/@\s\"'<>]+@")
# Also in a dict or JSON rendered as text ({'Cookie': 'a=b; c=d'}): the key may be followed by
# its closing quote, and a quoted value is redacted up to its closing quote.
_AUTH_HEADER = re.compile(
    r"\b(authorization|cookie|set-cookie|x-api-key)([\"']?\s*[:=]\s*)"
    r"(\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\r\n,;]*(?:;[^\r\n]*)?)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def _redact_url(match: re.Match[str]) -> str:
    url = _USERINFO.sub(r"\1" + REDACTED + "@", match.group(0))
    return _QUERY_VALUE.sub(r"\1" + REDACTED, url)


def _redact_header(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0] else ""
    return match.group(1) + match.group(2) + quote + REDACTED + quote


def redact_text(text: str) -> str:
    """Remove secrets from free text: URL query values and userinfo, auth headers, bearer tokens."""
    if not text:
        return text
    out = _URL.sub(_redact_url, text)
    out = _AUTH_HEADER.sub(_redact_header, out)
    return _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, out)


def is_secret_key(key: str) -> bool:
    """True when a field or header named ``key`` holds a secret."""
    return _SECRET_KEY.search(key) is not None


def redact_value(key: str, value: Any) -> Any:
    """Redact one structured value: secret keys lose their value, strings are scrubbed,
    containers are walked."""
    if is_secret_key(key) and value not in (None, "", b""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(key, v) for v in value]
    return value
