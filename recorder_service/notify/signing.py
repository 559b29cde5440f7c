"""Standard Webhooks signatures (https://www.standardwebhooks.com/): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``
with a ``whsec_``-prefixed base64 secret. Receivers verify with any Standard Webhooks library
(the tests use the ``standardwebhooks`` package)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from servicekit.errors import InvalidArgument

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def new_secret(nbytes: int = 32) -> str:
    """A fresh secret, ``whsec_`` + base64 of ``nbytes`` random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; InvalidArgument (INVALID_SECRET) otherwise. The
    message never repeats the secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidArgument(
            "a webhook secret is 'whsec_' followed by base64", reason="INVALID_SECRET"
        )
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(
            "a webhook secret is 'whsec_' followed by base64", reason="INVALID_SECRET"
        ) from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidArgument(
            f"a webhook secret holds {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}",
            reason="INVALID_SECRET",
        )
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``{id}.{timestamp}.{body}``."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (the timestamp is the attempt's:
    receivers refuse old ones, so a retry is signed again; the id stays)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret_key(secret), msg_id, timestamp, body),
    }


def secret_hint(secret: str) -> str:
    """Enough of a secret to tell two apart, never enough to use: ``whsec_AbCd…``."""
    return secret[: len(SECRET_PREFIX) + 4] + "…" if secret else ""
