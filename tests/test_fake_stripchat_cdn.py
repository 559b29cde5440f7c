"""The fake Stripchat CDN itself: what it demands, what it hides and how it fails."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from resolver_service.sources._mouflon import (
    chunk_names,
    find_pdkey,
    key_candidates,
    parse_psch,
    rewrite_media_playlist,
    sample_tokens,
)
from simlab.fakes.stripchat_cdn import StripchatCdn

ROOM = 201


@pytest.fixture(scope="module")
def cdn() -> Iterator[StripchatCdn]:
    with StripchatCdn() as running:
        running.add_room(ROOM, psch="v2")
        yield running


def get(cdn: StripchatCdn, url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers={**cdn.headers, **headers}, timeout=10)


def test_playlists_and_segments_want_the_sites_referer(cdn: StripchatCdn) -> None:
    assert httpx.get(cdn.master_url(ROOM), timeout=10).status_code == 403
    assert get(cdn, cdn.master_url(ROOM), Origin="https://evil.example").status_code == 403
    master = get(cdn, cdn.master_url(ROOM))
    assert master.status_code == 200 and parse_psch(master.text) is not None


def test_an_undecoded_name_is_a_404_and_a_decoded_one_is_media(cdn: StripchatCdn) -> None:
    url = cdn.media_url(ROOM)
    text = get(cdn, url).text
    assert get(cdn, url.rsplit("/", 1)[0] + "/media.mp4").status_code == 404
    decoded = rewrite_media_playlist(text, url, {cdn.pkey: cdn.pdkey})
    segment = [line for line in decoded.splitlines() if line.startswith("http")][-1]
    answer = get(cdn, segment)
    assert answer.status_code == 200 and len(answer.content) > 1000
    assert get(cdn, segment.replace("_seg", "x_seg")).status_code == 404


def test_the_player_hides_the_key_among_decoys(cdn: StripchatCdn) -> None:
    main = get(cdn, cdn.player_url).text
    found: list[str] = []
    for name in chunk_names(main):
        found += key_candidates(get(cdn, cdn.player_url.replace("main.js", name)).text)
    assert len(found) > 1 and cdn.pdkey in found
    samples = sample_tokens(get(cdn, cdn.media_url(ROOM)).text)
    assert find_pdkey(found, samples) == cdn.pdkey


def test_adverts_for_a_missing_pkey_or_on_demand(cdn: StripchatCdn) -> None:
    no_key = cdn.media_url(ROOM).split("?")[0]
    assert "#EXT-X-MOUFLON-ADVERT" in get(cdn, no_key).text
    cdn.set_advert(ROOM)
    try:
        text = get(cdn, cdn.media_url(ROOM)).text
        assert "#EXT-X-MOUFLON-ADVERT" in text and "/cpa/v3/" in text
    finally:
        cdn.set_advert(ROOM, False)


def test_tlds_go_down_faults_come_and_the_log_says_so(cdn: StripchatCdn) -> None:
    cdn.down.add("com")
    try:
        assert get(cdn, cdn.master_url(ROOM, "com")).status_code == 503
        assert get(cdn, cdn.master_url(ROOM, "org")).status_code == 200
    finally:
        cdn.down.discard("com")
    cdn.fail("master", 502, count=1)
    assert get(cdn, cdn.master_url(ROOM)).status_code == 502
    assert get(cdn, cdn.master_url(ROOM)).status_code == 200
    assert [r.status for r in cdn.log if r.kind == "master"][-2:] == [502, 200]


def test_a_rotation_changes_the_key_in_the_next_playlist_and_the_player_later(
    cdn: StripchatCdn,
) -> None:
    old_url = cdn.media_url(ROOM)
    state = httpx.post(
        f"{cdn.base_url}/_control", json={"action": "rotate_key", "player_lag": 60}, timeout=10
    ).json()
    text = get(cdn, old_url).text  # the old pkey still opens the playlist...
    psch = parse_psch(text)
    assert psch is not None and psch.pkey == state["pkey"] == cdn.pkey  # ...in the new key
    main = get(cdn, cdn.player_url).text
    found = [
        k
        for name in chunk_names(main)
        for k in key_candidates(get(cdn, cdn.player_url.replace("main.js", name)).text)
    ]
    assert cdn.pdkey not in found  # the player lags behind
