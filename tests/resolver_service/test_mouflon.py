"""Stripchat's mouflon v1/v2 decoding, advert detection and key discovery (pure, fast).

The vectors are computed here from the algorithm as SITES.md documents it, independently of
the module's own encoders: base64 for v1; reverse(base64(plain XOR SHA-256(pdkey)*)) for v2.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from resolver_service.sources._mouflon import (
    KeyRing,
    MouflonError,
    Psch,
    chunk_names,
    decode_v1,
    decode_v2_token,
    decode_v2_uri,
    encode_v1,
    encode_v2_token,
    find_pdkey,
    key_candidates,
    parse_keys,
    parse_psch,
    rewrite_media_playlist,
    sample_tokens,
    with_psch,
)

PDKEY = "Quean4cai9boJa5a"
BASE = (
    "https://media-hls.doppiocdn.net/b-hls-12/4242/4242_720p60.m3u8?psch=v2&pkey=Zokee2OhPh9kugh4"
)


def v2_token(plain: str, pdkey: str) -> str:
    """The documented encryption, written out step by step (the test's own vector)."""
    digest = hashlib.sha256(pdkey.encode()).digest()
    cipher = bytes(b ^ digest[i % len(digest)] for i, b in enumerate(plain.encode()))
    return base64.b64encode(cipher).decode().rstrip("=")[::-1]


def v1_value(name: str) -> str:
    return base64.b64encode(name.encode()).decode().rstrip("=")


def v2_playlist(pdkey: str, *, pkey: str = "Zokee2OhPh9kugh4", parts: bool = True) -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-MOUFLON:PSCH:v2:{pkey}",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-MEDIA-SEQUENCE:10",
        '#EXT-X-MAP:URI="4242_720p60_init.mp4"',
    ]
    for seq in (10, 11):
        if parts:
            token = v2_token(f"p{seq}a", pdkey)
            lines += [
                f"#EXT-X-MOUFLON:URI:https://media-hls.doppiocdn.net/b-hls-12/4242/4242_{seq}_{token}_part0.mp4",
                '#EXT-X-PART:DURATION=1.0,URI="media.mp4",INDEPENDENT=YES',
            ]
        token = v2_token(f"s{seq}x7", pdkey)
        lines += [
            f"#EXT-X-MOUFLON:URI:https://media-hls.doppiocdn.net/b-hls-12/4242/4242_{seq}_{token}_full.mp4",
            "#EXTINF:2.000,",
            "media.mp4",
        ]
    lines.append('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="media.mp4"')
    return "\n".join(lines) + "\n"


def uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


# -- the algorithm ------------------------------------------------------------------------


@pytest.mark.parametrize("plain", ["a", "ab", "abc", "s10x7", "1750000000-0123456789abcdef"])
def test_v2_token_decodes_the_documented_vector(plain: str) -> None:
    assert decode_v2_token(v2_token(plain, PDKEY), PDKEY) == plain
    assert encode_v2_token(plain, PDKEY) == v2_token(plain, PDKEY)


def test_v2_token_with_a_wrong_key_is_not_printable() -> None:
    token = v2_token("1750000000-0123456789abcdef", PDKEY)
    assert decode_v2_token(token, "Wrongkey12345678") is None


def test_v2_uri_replaces_the_second_to_last_token_only() -> None:
    token = v2_token("real", PDKEY)
    uri = f"https://cdn.example/b-hls-1/9/9_720p_{token}_part3.mp4"
    assert decode_v2_uri(uri, PDKEY) == "https://cdn.example/b-hls-1/9/9_720p_real_part3.mp4"
    assert decode_v2_uri("https://cdn.example/a/plain.mp4", PDKEY) is None


def test_v1_is_base64_of_the_file_name() -> None:
    assert decode_v1(v1_value("4242_720p60_1750000000_12.mp4")) == "4242_720p60_1750000000_12.mp4"
    assert encode_v1("x.mp4") == v1_value("x.mp4")
    assert decode_v1("!!!") is None
    assert decode_v1(v1_value("../etc/passwd")) is None  # not a file name: never a path


# -- master playlists ---------------------------------------------------------------------


def test_psch_is_read_and_appended_to_variant_urls() -> None:
    master = (
        "#EXTM3U\n#EXT-X-MOUFLON:PSCH:v2:Zokee2OhPh9kugh4\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"
    )
    psch = parse_psch(master)
    assert psch == Psch("v2", "Zokee2OhPh9kugh4")
    assert with_psch("https://h/v.m3u8?a=1&psch=v1", psch) == (
        "https://h/v.m3u8?a=1&psch=v2&pkey=Zokee2OhPh9kugh4"
    )
    assert parse_psch("#EXTM3U\n") is None
    with pytest.raises(MouflonError) as err:
        parse_psch("#EXTM3U\n#EXT-X-MOUFLON:PSCH:v9:abc\n")
    assert err.value.reason == "STRIPCHAT_PLAYLIST_UNREADABLE"


# -- media playlists ----------------------------------------------------------------------


def test_v2_playlist_is_rewritten_to_decoded_absolute_uris_without_parts() -> None:
    out = rewrite_media_playlist(v2_playlist(PDKEY), BASE, {"Zokee2OhPh9kugh4": PDKEY})
    assert uris(out) == [
        "https://media-hls.doppiocdn.net/b-hls-12/4242/4242_10_s10x7_full.mp4",
        "https://media-hls.doppiocdn.net/b-hls-12/4242/4242_11_s11x7_full.mp4",
    ]
    assert (
        '#EXT-X-MAP:URI="https://media-hls.doppiocdn.net/b-hls-12/4242/4242_720p60_init.mp4"' in out
    )
    assert "MOUFLON" not in out and "EXT-X-PART" not in out and "PRELOAD-HINT" not in out
    assert "#EXT-X-MEDIA-SEQUENCE:10" in out and out.count("#EXTINF:2.000,") == 2


def test_v1_playlist_replaces_the_placeholder_with_the_file_name() -> None:
    playlist = "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-MOUFLON:PSCH:v1:Zokee2OhPh9kugh4",
            "#EXT-X-TARGETDURATION:2",
            '#EXT-X-MAP:URI="init.mp4"',
            f"#EXT-X-MOUFLON:FILE:{v1_value('4242_1750_5.mp4')}",
            "#EXTINF:2.0,",
            "https://media-hls.doppiocdn.org/b-hls-3/4242/media.mp4",
        ]
    )
    out = rewrite_media_playlist(playlist, BASE, {})
    assert uris(out) == ["https://media-hls.doppiocdn.org/b-hls-3/4242/4242_1750_5.mp4"]


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({}, "STRIPCHAT_KEY_MISSING"),
        ({"Zokee2OhPh9kugh4": "Wrongkey12345678"}, "STRIPCHAT_KEY_WRONG"),
        ({"Otherpkey": PDKEY}, "STRIPCHAT_KEY_MISSING"),
    ],
)
def test_key_problems_are_errors_naming_the_pkey(keys: dict[str, str], reason: str) -> None:
    with pytest.raises(MouflonError) as err:
        rewrite_media_playlist(v2_playlist(PDKEY), BASE, keys)
    assert err.value.reason == reason
    assert err.value.pkey == "Zokee2OhPh9kugh4" and "Zokee2OhPh9kugh4" in err.value.message


def test_the_playlists_own_pkey_wins_over_the_urls() -> None:
    out = rewrite_media_playlist(
        v2_playlist(PDKEY, pkey="Newpkey"), BASE, {"Newpkey": PDKEY}, pkey="Zokee2OhPh9kugh4"
    )
    assert len(uris(out)) == 2


@pytest.mark.parametrize(
    "playlist",
    [
        "#EXTM3U\n#EXT-X-MOUFLON-ADVERT\n#EXTINF:2,\nhttps://h/x/ad.mp4\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttps://h/cpa/v3/ad_1.mp4\n",
        '#EXTM3U\n#EXT-X-MAP:URI="/cpa/v3/init.mp4"\n',
    ],
)
def test_a_promotional_clip_is_refused(playlist: str) -> None:
    with pytest.raises(MouflonError) as err:
        rewrite_media_playlist(playlist, BASE, {}, pkey="Zokee2OhPh9kugh4")
    assert err.value.reason == "STRIPCHAT_ADVERT"
    assert "Zokee2OhPh9kugh4" in err.value.message


@pytest.mark.parametrize(
    "playlist",
    [
        "not a playlist",
        "#EXTM3U\n#EXTINF:2,\nhttps://h/a/media.mp4\n",  # a placeholder with nothing before it
        "#EXTM3U\n#EXTINF:2,\nfile:///etc/passwd\n",
        f"#EXTM3U\n#EXT-X-MOUFLON:FILE:{v1_value('a b')}\n#EXTINF:2,\nmedia.mp4\n",
    ],
)
def test_unreadable_playlists_are_refused(playlist: str) -> None:
    with pytest.raises(MouflonError) as err:
        rewrite_media_playlist(playlist, BASE, {})
    assert err.value.reason in ("STRIPCHAT_PLAYLIST_UNREADABLE", "STRIPCHAT_KEY_WRONG")


def test_a_plain_playlist_passes_through_absolute() -> None:
    out = rewrite_media_playlist("#EXTM3U\n#EXTINF:2,\nseg1.mp4\n", BASE, {})
    assert uris(out) == ["https://media-hls.doppiocdn.net/b-hls-12/4242/seg1.mp4"]


# -- keys and discovery -------------------------------------------------------------------


def test_keys_table_parses_and_refuses_bad_entries() -> None:
    assert parse_keys("a1:b1, a2:b2,") == {"a1": "b1", "a2": "b2"}
    assert parse_keys("") == {}
    for bad in ("a1", "a1:", ":b1", "a 1:b1", "a1:b/1"):
        with pytest.raises(ValueError):
            parse_keys(bad)


def test_keyring_lets_a_proven_key_win_and_hides_pdkeys() -> None:
    ring = KeyRing({"p1": "user"})
    assert ring.get("p1") == "user" and ring.get("p2") is None
    ring.learn("p1", "found")
    ring.learn("p2", "found2")
    assert ring.get("p1") == "found" and ring.get("p2") == "found2" and "p2" in ring
    ring.forget("p1")
    assert ring.get("p1") == "user"
    assert "user" not in repr(ring) and "found" not in repr(ring)


def test_discovery_finds_the_real_key_among_decoys() -> None:
    decoys = ["Aaaaaaaaaaaaaaa1", "Bbbbbbbbbbbbbbb2", "Cccccccccccccccc"]
    a, b, c = decoys
    chunk = (
        f'var x="notsixteen";const K={{a:"{a}",b:\'{b}\',c:`{PDKEY}`,d:"{c}"}};'
        'function f(){return "EXT-X-MOUFLON"}'
    )
    candidates = key_candidates(chunk)
    assert candidates == (decoys[0], decoys[1], PDKEY, decoys[2])
    samples = sample_tokens(v2_playlist(PDKEY))
    assert len(samples) == 4
    assert find_pdkey(candidates, samples) == PDKEY
    assert find_pdkey(decoys, samples) is None
    assert find_pdkey(candidates, ()) is None
    assert key_candidates(chunk.replace("MOUFLON", "other")) == ()


def test_chunk_names_are_found_in_the_player_script() -> None:
    main = 'import("./chunk-ab12.js");import("./chunk-CD34.js");x="chunk-ab12.js"'
    assert chunk_names(main) == ("chunk-ab12.js", "chunk-CD34.js")
