"""The playlist relay against the fake Stripchat CDN, with real ffmpeg reading through it.

ffmpeg reads the relay's URLs (one per media playlist); the relay re-reads the CDN's
obfuscated playlist on every reload and answers it decoded; segments go from the fake CDN to
ffmpeg directly (the CDN's request log shows who fetched what).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from resolver_service.quality import QualityPreference
from resolver_service.relay import PlaylistRelay
from resolver_service.sources._mouflon import KeyRing, MouflonError
from resolver_service.sources._mouflon_keys import KeyDiscovery, MouflonPlaylists
from resolver_service.sources._stripchat_media import relay_resolution
from servicekit.errors import FailedPrecondition, NotFound
from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes.stripchat_cdn import StripchatCdn
from simlab.media_check import decode, stream_kinds
from tests.resolver_service.sites import site_client

V1, V2, ROTATING, ADVERT = 101, 102, 103, 104


@pytest.fixture(scope="module")
def cdn() -> Iterator[StripchatCdn]:
    with StripchatCdn() as running:
        running.add_room(V1, psch="v1")
        running.add_room(V2, psch="v2")
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
        yield client


@pytest.fixture
async def relay() -> AsyncIterator[PlaylistRelay]:
    async with PlaylistRelay() as running:
        yield running


def playlists(cdn: StripchatCdn, http: httpx.AsyncClient, *, keys: bool = True) -> MouflonPlaylists:
    """The Stripchat rewrite with discovery from the fake's player (and the key, if ``keys``)."""
    ring = KeyRing({cdn.pkey: cdn.pdkey} if keys else {})
    return MouflonPlaylists(ring, KeyDiscovery(site_client(http), cdn.player_url, cdn.headers))


async def publish(
    relay: PlaylistRelay,
    cdn: StripchatCdn,
    http: httpx.AsyncClient,
    rewrite: MouflonPlaylists,
    model: int,
    rendition: str,
) -> str:
    return await relay.publish(
        cdn.media_url(model, rendition),
        client=site_client(http),
        headers=cdn.headers,
        rewrite=rewrite.rewrite,
        label=f"stripchat:{model}",
    )


async def record(video: str, audio: str, out: Path, seconds: float, cdn: StripchatCdn) -> str:
    """ffmpeg reads both relay URLs for ``seconds`` of media into ``out``; its stderr."""
    headers = "".join(f"{k}: {v}\r\n" for k, v in cdn.headers.items())
    args = [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "warning", "-y"]
    for url in (video, audio):
        args += ["-headers", headers, "-i", url]
    args += ["-map", "0:v", "-map", "1:a", "-c", "copy", "-t", str(seconds), str(out)]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=seconds + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return err.decode(errors="replace")


@pytest.mark.parametrize("model", [V1, V2])
async def test_ffmpeg_records_video_and_audio_through_the_relay(
    model: int, cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    rewrite = playlists(cdn, http)
    video = await publish(relay, cdn, http, rewrite, model, "v0")
    audio = await publish(relay, cdn, http, rewrite, model, "audio")
    assert cdn.pkey not in video and "doppiocdn" not in video and str(model) not in video
    segments_before = cdn.count("segment")
    out = tmp_path / "rec.mkv"
    err = await record(video, audio, out, 5, cdn)
    assert out.exists(), err
    assert stream_kinds(out) == ["video", "audio"]
    result = decode(out)
    assert result.ok and result.seconds >= 4, (result, err)
    assert cdn.count("segment") > segments_before  # the media came from the CDN, not the relay
    assert cdn.count("advert") == 0


async def test_a_wrong_key_fails_the_publish_with_its_reason_and_nothing_is_fetched(
    cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient
) -> None:
    ring = KeyRing({cdn.pkey: "Wrongkey12345678"})
    rewrite = MouflonPlaylists(ring, None)
    segments = cdn.count("segment")
    with pytest.raises(MouflonError) as err:
        await publish(relay, cdn, http, rewrite, V2, "v0")
    assert err.value.reason == "STRIPCHAT_KEY_WRONG" and cdn.pkey in err.value.message
    assert len(relay) == 0 and cdn.count("segment") == segments


async def test_a_missing_key_is_discovered_from_the_player_among_decoys(
    cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient
) -> None:
    rewrite = playlists(cdn, http, keys=False)
    url = await publish(relay, cdn, http, rewrite, V2, "v0")
    assert rewrite.ring.get(cdn.pkey) == cdn.pdkey and rewrite.discoveries == 1
    answer = await http.get(url)
    assert answer.status_code == 200 and "MOUFLON" not in answer.text
    assert "_seg.mp4" in answer.text and rewrite.discoveries == 1  # cached: asked once


async def test_an_advert_is_never_published_nor_fetched(
    cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient
) -> None:
    cdn.add_room(ADVERT, psch="v2")
    cdn.set_advert(ADVERT)
    rewrite = playlists(cdn, http)
    with pytest.raises(MouflonError) as err:
        await publish(relay, cdn, http, rewrite, ADVERT, "v0")
    assert err.value.reason == "STRIPCHAT_ADVERT" and cdn.pkey in err.value.message
    missing_pkey = cdn.media_url(V2).split("&pkey=")[0]  # the CDN's answer: the advert
    with pytest.raises(MouflonError) as err:
        await relay.publish(
            missing_pkey, client=site_client(http), headers=cdn.headers, rewrite=rewrite.rewrite
        )
    assert err.value.reason == "STRIPCHAT_ADVERT"
    assert cdn.count("advert") == 0


async def test_an_advert_mid_recording_fails_the_reload_and_no_advert_byte_is_fetched(
    cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    cdn.add_room(ADVERT, psch="v2")
    rewrite = playlists(cdn, http)
    video = await publish(relay, cdn, http, rewrite, ADVERT, "v0")
    audio = await publish(relay, cdn, http, rewrite, ADVERT, "audio")

    async def advert_soon() -> None:
        await asyncio.sleep(3)
        cdn.set_advert(ADVERT)

    task = asyncio.create_task(advert_soon())
    err = await record(video, audio, tmp_path / "rec.mkv", 30, cdn)
    await task
    answer = await http.get(video)
    assert answer.status_code == 502
    assert answer.headers["x-streamrec-reason"] == "STRIPCHAT_ADVERT"
    assert cdn.count("advert") == 0, err  # ffmpeg never saw an advert URI
    out = tmp_path / "rec.mkv"
    assert not out.exists() or decode(out).seconds < 20  # it stopped, it did not go on


async def test_a_key_rotation_mid_recording_is_found_on_the_next_reload(
    cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    cdn.add_room(ROTATING, psch="v2")
    rewrite = playlists(cdn, http)
    video = await publish(relay, cdn, http, rewrite, ROTATING, "v0")
    audio = await publish(relay, cdn, http, rewrite, ROTATING, "audio")
    old_pkey = cdn.pkey
    rotated: list[tuple[str, str]] = []

    async def rotate_soon() -> None:
        await asyncio.sleep(3)
        rotated.append(cdn.rotate_key())

    task = asyncio.create_task(rotate_soon())
    out = tmp_path / "rec.mkv"
    err = await record(video, audio, out, 9, cdn)
    await task
    new_pkey, new_pdkey = rotated[0]
    assert new_pkey != old_pkey and rewrite.ring.get(new_pkey) == new_pdkey
    assert rewrite.discoveries == 1  # once for the new pkey, on the reload that saw it
    result = decode(out)
    assert result.ok and result.seconds >= 8, (result, err)
    assert cdn.count("advert") == 0


async def test_relay_urls_are_opaque_expire_and_unknown_ones_are_404(
    cdn: StripchatCdn, http: httpx.AsyncClient
) -> None:
    now = [0.0]
    async with PlaylistRelay(idle_ttl=10, clock=lambda: now[0]) as relay:
        url = await publish(relay, cdn, http, playlists(cdn, http), V1, "v0")
        assert (await http.get(url)).status_code == 200
        assert (await http.get(url.replace("/r/", "/r/x"))).status_code == 404
        now[0] = 9
        assert relay.expire() == 0
        now[0] = 20
        assert relay.expire() == 1
        assert (await http.get(url)).status_code == 404


async def test_public_url_names_the_relay_and_a_gone_stream_is_not_found(
    cdn: StripchatCdn, http: httpx.AsyncClient
) -> None:
    async with PlaylistRelay(public_url="http://resolver:8089/") as relay:
        url = await publish(relay, cdn, http, playlists(cdn, http), V1, "v0")
        assert url.startswith("http://resolver:8089/r/") and url.endswith(".m3u8")
        with pytest.raises(NotFound):
            await relay.publish(
                cdn.media_url(V1).replace(f"/{V1}_v0", "/999_v0"),
                client=site_client(http),
                headers=cdn.headers,
                rewrite=playlists(cdn, http).rewrite,
            )


async def test_a_master_becomes_a_resolution_on_the_relay_with_psch_on_the_variants(
    cdn: StripchatCdn, relay: PlaylistRelay, http: httpx.AsyncClient
) -> None:
    master_url = cdn.master_url(V2, tld="net")
    master = (await http.get(master_url, headers=cdn.headers)).text
    kwargs = {
        "source": "stripchat",
        "target": "alice",
        "username": "Alice",
        "master_url": master_url,
        "master_text": master,
        "pref": QualityPreference(),
        "cdn": site_client(http),
        "headers": cdn.headers,
        "playlists": playlists(cdn, http),
    }
    before = len(cdn.log)
    resolution = await relay_resolution(relay=relay, **kwargs)  # type: ignore[arg-type]
    assert resolution.media_url.startswith(relay.base_url) and resolution.audio_url
    assert resolution.audio_url.startswith(relay.base_url)
    assert resolution.chosen is not None and resolution.chosen.resolution == "640x360"
    assert resolution.http_headers == cdn.headers and resolution.username == "Alice"
    asked = [r.path for r in cdn.log[before:] if r.kind == "playlist"]
    assert sorted(asked) == sorted(
        f"/edge-hls.doppiocdn.net/hls/{V2}/{V2}_{r}.m3u8?psch=v2&pkey={cdn.pkey}"
        for r in ("v0", "audio")
    )
    with pytest.raises(FailedPrecondition) as err:
        await relay_resolution(relay=None, **kwargs)  # type: ignore[arg-type]
    assert err.value.reason == "RELAY_NOT_RUNNING"
