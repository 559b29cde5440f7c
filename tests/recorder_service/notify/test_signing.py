"""Signatures as Standard Webhooks specify them, checked with the reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from recorder_service.notify.signing import new_secret, secret_hint, secret_key, webhook_headers
from servicekit.errors import InvalidArgument


def test_a_signed_body_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    body = '{"type":"channel.online","data":{"channel":"ålice"}}'.encode()
    now = int(datetime.now(UTC).timestamp())
    headers = webhook_headers(secret, "msg_1", now, body)
    assert Webhook(secret).verify(body, headers)["data"]["channel"] == "ålice"
    # The library signs the same bytes the same way.
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body)
    assert headers["webhook-signature"] == expected


def test_a_changed_body_id_or_secret_fails_verification() -> None:
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    headers = webhook_headers(secret, "msg_1", now, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":1}', {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(b'{"a":1}', headers)


def test_secrets_are_whsec_base64_of_24_to_64_bytes() -> None:
    assert len(secret_key(new_secret())) == 32
    for bad in ["", "abc", "whsec_", "whsec_!!!!", "whsec_" + base64.b64encode(b"x" * 8).decode()]:
        with pytest.raises(InvalidArgument) as caught:
            secret_key(bad)
        assert caught.value.reason == "INVALID_SECRET"
        assert bad[6:] == "" or bad[6:] not in caught.value.message


def test_the_hint_never_holds_the_key() -> None:
    secret = new_secret()
    hint = secret_hint(secret)
    assert hint.startswith("whsec_") and len(hint) == len("whsec_") + 5
    assert secret[10:] not in hint
