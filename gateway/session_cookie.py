"""The dashboard's sign-in cookie: made from the API token, checked without any state.

A signed-in browser holds ``streamrec_session=<nonce>.<expiry>.<signature>``: a random nonce,
the expiry (Unix seconds) and an HMAC-SHA256 over both with a key derived from ``API_TOKEN``.
Nothing is stored in the gateway (it holds no state, and several replicas accept each other's
cookies); changing the token signs every browser out. The CSRF token the page sends back on
state-changing requests is another HMAC of the same nonce, so it is bound to one sign-in and
cannot be made without the key.

Pure functions: the clock is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE_NAME = "streamrec_session"
CSRF_HEADER = "x-csrf-token"
_KEY_LABEL = b"streamrec dashboard session v1"
_MAX_COOKIE_LEN = 200


def session_key(api_token: str) -> bytes:
    """The signing key: the token itself never signs anything a browser holds."""
    return hmac.new(api_token.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, label: bytes, message: str) -> str:
    digest = hmac.new(key, label + b"\0" + message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SignIn:
    """A valid cookie's content."""

    nonce: str
    expires: int


def issue(key: bytes, now: float, ttl: int) -> tuple[str, SignIn]:
    """A new cookie value and what it holds."""
    nonce = secrets.token_urlsafe(18)
    expires = int(now) + ttl
    body = f"{nonce}.{expires}"
    return f"{body}.{_mac(key, b'cookie', body)}", SignIn(nonce, expires)


def verify(key: bytes, value: str, now: float) -> SignIn | None:
    """The sign-in a cookie value proves, or None (forged, malformed or expired)."""
    if not value or len(value) > _MAX_COOKIE_LEN:
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    nonce, expires_text, signature = parts
    body = f"{nonce}.{expires_text}"
    if not hmac.compare_digest(signature, _mac(key, b"cookie", body)):
        return None
    expires = int(expires_text)
    if expires <= now:
        return None
    return SignIn(nonce, expires)


def csrf_token(key: bytes, sign_in: SignIn) -> str:
    """The token the page must echo in ``X-CSRF-Token`` for this sign-in."""
    return _mac(key, b"csrf", sign_in.nonce)


def csrf_ok(key: bytes, sign_in: SignIn, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(given or "", csrf_token(key, sign_in))
