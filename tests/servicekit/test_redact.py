"""Secrets never reach a log line: URL query values and userinfo, auth headers, secret keys."""

from __future__ import annotations

import pytest

from servicekit.redact import REDACTED, is_secret_key, redact_text, redact_value

# --- free text --------------------------------------------------------------------------------


def test_every_query_value_of_a_url_is_redacted_and_names_are_kept():
    text = "fetching https://cdn.example.com/live/a.m3u8?token=abc123&sig=zz&e=99 now"
    assert redact_text(text) == (
        "fetching https://cdn.example.com/live/a.m3u8"
        f"?token={REDACTED}&sig={REDACTED}&e={REDACTED} now"
    )


def test_query_values_are_redacted_up_to_a_fragment_or_quote():
    assert redact_text("https://h.example/p?a=1#frag") == f"https://h.example/p?a={REDACTED}#frag"
    assert redact_text('url "https://h.example/p?a=1" quoted') == (
        f'url "https://h.example/p?a={REDACTED}" quoted'
    )


def test_userinfo_is_redacted():
    assert redact_text("https://user:pa55@host.example/x") == f"https://{REDACTED}@host.example/x"
    assert redact_text("rtmp://u:p@h.example/app?k=v") == (
        f"rtmp://{REDACTED}@h.example/app?k={REDACTED}"
    )


def test_url_without_query_or_userinfo_is_untouched():
    text = "playlist https://cdn.example.com/live/index.m3u8 refreshed"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer x", f"Authorization: {REDACTED}"),
        ("authorization=Basic dXNlcjpwYXNz", f"authorization={REDACTED}"),
        ("Cookie: a=b; c=d", f"Cookie: {REDACTED}"),
        ("Set-Cookie: sid=1; Path=/", f"Set-Cookie: {REDACTED}"),
        ("X-API-Key: k", f"X-API-Key: {REDACTED}"),
        ("x-api-key: k1, accept: */*", f"x-api-key: {REDACTED}, accept: */*"),
        ("sent Bearer abc.def-123 upstream", f"sent Bearer {REDACTED} upstream"),
    ],
)
def test_auth_headers_and_bearer_tokens_are_redacted(text, expected):
    assert redact_text(text) == expected


def test_headers_rendered_as_a_dict_or_json_are_redacted():
    headers = {"Cookie": "sess=abc; b=c", "X-Api-Key": "k123", "Accept": "*/*"}
    out = redact_text(f"fetching with {headers}")
    assert "sess=abc" not in out and "k123" not in out
    assert out == (
        f"fetching with {{'Cookie': '{REDACTED}', 'X-Api-Key': '{REDACTED}', 'Accept': '*/*'}}"
    )
    assert redact_text('{"Authorization": "Token zzz"}') == f'{{"Authorization": "{REDACTED}"}}'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "GET /status 200 in 5 ms",
        "session 3f2a started for alice (hls, 1080p)",
        "the cookie jar is empty",
        "ffmpeg exited with code 0",
    ],
)
def test_text_without_secrets_is_untouched(text):
    assert redact_text(text) == text


# --- structured values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["cookie", "Cookie", "api_key", "X-API-Key", "Authorization", "password", "token"]
)
def test_secret_keys_lose_their_value(key):
    assert is_secret_key(key)
    assert redact_value(key, "s3cr3t") == REDACTED
    assert redact_value(key, {"any": "shape"}) == REDACTED


@pytest.mark.parametrize("key", ["session_id", "channel", "url.original", "event.action"])
def test_other_keys_keep_their_value(key):
    assert not is_secret_key(key)
    assert redact_value(key, "plain") == "plain"


def test_nested_dicts_and_lists_are_walked():
    value = {
        "headers": {
            "Cookie": "a=b",
            "Authorization": "Bearer z",
            "Accept": "text/html",
        },
        "api_key": "k",
        "password": "p",
        "attempts": [{"token": "t", "ok": "fine"}, "https://h.example/p?sig=1"],
        "count": 3,
    }
    assert redact_value("context", value) == {
        "headers": {"Cookie": REDACTED, "Authorization": REDACTED, "Accept": "text/html"},
        "api_key": REDACTED,
        "password": REDACTED,
        "attempts": [{"token": REDACTED, "ok": "fine"}, f"https://h.example/p?sig={REDACTED}"],
        "count": 3,
    }


def test_strings_are_scrubbed_and_other_scalars_kept():
    assert redact_value("url", "https://h.example/p?t=1") == f"https://h.example/p?t={REDACTED}"
    assert redact_value("items", ("a", "https://h.example/?q=1")) == [
        "a",
        f"https://h.example/?q={REDACTED}",
    ]
    assert redact_value("bytes_written", 1024) == 1024
    assert redact_value("ok", None) is None


def test_empty_secret_values_stay_empty():
    # Nothing to hide; showing that a cookie was absent helps debugging.
    assert redact_value("cookie", "") == ""
    assert redact_value("password", None) is None
