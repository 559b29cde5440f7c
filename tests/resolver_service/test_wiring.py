"""Building the resolver from settings: every registered source, each with its own settings,
budget and proxies; a bad site setting stops the start with a line naming it."""

from __future__ import annotations

import pytest

from resolver_service.settings import ResolverSettings
from resolver_service.site_settings import check_proxy, redact_proxy
from resolver_service.wiring import ClientPool, build_resolver
from servicekit.settings import Env, SettingsError


async def build(env: dict[str, str]) -> list[str]:
    settings = ResolverSettings.from_env(Env(env))
    async with ClientPool(settings) as clients:
        return list(build_resolver(settings, clients).sources)


async def test_every_registered_source_is_enabled_by_default() -> None:
    names = await build({})
    assert {"hls", "chaturbate"} <= set(names)


async def test_resolver_sources_chooses_among_them() -> None:
    assert await build({"RESOLVER_SOURCES": "hls"}) == ["hls"]


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"RESOLVER_SOURCES": "hls,nosuchsite"}, "no source named nosuchsite"),
        ({"RESOLVER_PLUGINS": "no.such.module"}, "cannot import 'no.such.module'"),
        ({"CHATURBATE_METHODS": "ajax,telepathy"}, "CHATURBATE_"),
        ({"CHATURBATE_BASE_URL": "file:///etc"}, "CHATURBATE_"),
        ({"CHATURBATE_RATE": "0"}, "CHATURBATE_RATE"),
        ({"CHATURBATE_COOKIE": "a\nb"}, "CHATURBATE_COOKIE"),
        ({"CHATURBATE_CDN_PROXY": "https://u:hunter2@127.0.0.1:1080"}, "CHATURBATE_CDN_PROXY"),
        ({"CHATURBATE_PROXY": "ftp://u:hunter2@127.0.0.1:21"}, "CHATURBATE_PROXY"),
        ({"CHATURBATE_PROXY": "http://u:hunter2@127.0.0.1"}, "needs a host and a port"),
        ({"CHATURBATE_PROXY": "http://u:hunter2@127.0.0.1:8/x"}, "nothing more"),
    ],
)
async def test_a_bad_site_setting_is_named_and_never_echoes_a_secret(
    env: dict[str, str], match: str
) -> None:
    with pytest.raises(SettingsError, match=match) as caught:
        await build(env)
    assert "hunter2" not in str(caught.value)


async def test_proxies_of_every_kind_the_api_takes() -> None:
    for proxy in ("http://127.0.0.1:3128", "https://p.example:443", "socks5h://u:pw@127.0.0.1:9"):
        assert check_proxy("X", proxy, ("http", "https", "socks5", "socks5h")) == proxy
    names = await build(
        {
            "CHATURBATE_PROXY": "socks5://user:pw@127.0.0.1:1080",
            "CHATURBATE_CDN_PROXY": "http://user:pw@127.0.0.1:3128",
        }
    )
    assert "chaturbate" in names
    assert redact_proxy("http://user:pw@127.0.0.1:3128") == "http://127.0.0.1:3128"
