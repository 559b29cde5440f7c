"""The sign-in cookie and its CSRF token: pure functions, no clock but the one given."""

from __future__ import annotations

from gateway import session_cookie as sc

KEY = sc.session_key("a-token-of-sixteen-chars")


def test_a_cookie_proves_its_sign_in_until_it_expires() -> None:
    value, sign_in = sc.issue(KEY, now=1000.0, ttl=60)
    assert sc.verify(KEY, value, now=1059.0) == sign_in
    assert sc.verify(KEY, value, now=1060.0) is None


def test_a_tampered_forged_or_foreign_cookie_proves_nothing() -> None:
    value, _ = sc.issue(KEY, now=1000.0, ttl=60)
    nonce, expires, signature = value.split(".")
    assert sc.verify(KEY, f"{nonce}.{int(expires) + 3600}.{signature}", 1001.0) is None
    assert sc.verify(KEY, f"{nonce}x.{expires}.{signature}", 1001.0) is None
    assert sc.verify(KEY, f"{nonce}.{expires}.", 1001.0) is None
    assert sc.verify(sc.session_key("another-token-0000000"), value, 1001.0) is None
    for junk in ("", "a.b", "a.b.c.d", "x" * 500, "n.notanumber.s"):
        assert sc.verify(KEY, junk, 1001.0) is None


def test_the_csrf_token_belongs_to_one_sign_in() -> None:
    _, first = sc.issue(KEY, now=0, ttl=60)
    _, second = sc.issue(KEY, now=0, ttl=60)
    token = sc.csrf_token(KEY, first)
    assert sc.csrf_ok(KEY, first, token)
    assert not sc.csrf_ok(KEY, second, token)
    assert not sc.csrf_ok(KEY, first, None)
    assert not sc.csrf_ok(KEY, first, "")
    assert "a-token-of-sixteen-chars" not in token
