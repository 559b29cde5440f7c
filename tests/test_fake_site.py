"""The fake chaturbate.com answers like the real site as UPSTREAM.md describes it."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.chaturbate_site import FakeChaturbate, SiteRequest

HLS = "https://edge1.example/live-hls/amlst:alice-sd-abc_trns_h264/playlist.m3u8?token=t"
XHR = {"X-Requested-With": "XMLHttpRequest"}
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
DOSSIER = re.compile(r"window\.initialRoomDossier\s*=\s*(\"(?:[^\"\\]|\\.)*\")\s*;")
# (room fields, reported room_status, URL revealed)
CASES: dict[str, tuple[dict[str, Any], str, bool]] = {
    "public": ({}, "public", True),
    "offline": ({"room_status": "offline"}, "offline", False),
    "private": ({"room_status": "private"}, "private", False),
    "group": ({"room_status": "group"}, "group", False),
    "away": ({"room_status": "away"}, "away", False),
    "hidden": ({"room_status": "hidden", "hidden_message": "brb"}, "hidden", False),
    "geo": ({"geo_blocked": True}, "public", False),
}


@pytest.fixture
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate(affiliate_code="wm123") as running:
        yield running


def ajax(http: httpx.Client, site: FakeChaturbate, user: str, **kwargs: Any) -> httpx.Response:
    data = {"room_slug": user, "bandwidth": "high"}
    return http.post(f"{site.base_url}/get_edge_hls_url_ajax/", data=data, **kwargs)


def api(http: httpx.Client, site: FakeChaturbate, user: str) -> httpx.Response:
    headers = {"Accept": "application/json", "User-Agent": BROWSER_UA}
    return http.get(f"{site.base_url}/api/chatvideocontext/{user}/", headers=headers)


def decode_dossier(page: str) -> dict[str, Any]:
    """As a client does it: find the JS string, read the literal, parse its content."""
    match = DOSSIER.search(page)
    assert match is not None, "no dossier"
    content = json.loads(match.group(1))
    assert isinstance(content, str)
    data = json.loads(content)
    assert isinstance(data, dict)
    return data


def add_case(site: FakeChaturbate, case: str) -> None:
    site.add_room("alice", hls_url=HLS, viewers=42, title="hi", **CASES[case][0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_ajax_reports_status_and_url_only_when_watchable(site, http, case) -> None:
    add_case(site, case)
    _, status, revealed = CASES[case]
    response = ajax(http, site, "alice", headers=XHR)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "success": True,
        "url": HLS if revealed else "",
        "room_status": status,
        "hidden_message": "brb" if case == "hidden" else "",
        "cmaf_edge": False,
    }


def test_ajax_password_unknown_and_cmaf_rooms(site, http) -> None:
    site.add_room("locked", hls_url=HLS, password=True)
    site.add_room("cmaf", hls_url=HLS, cmaf_edge=True)
    locked = ajax(http, site, "locked", headers=XHR).json()
    assert (locked["room_status"], locked["url"], locked["success"]) == (
        "password protected",
        "",
        True,
    )
    assert ajax(http, site, "CMAF", headers=XHR).json()["cmaf_edge"] is True
    unknown = ajax(http, site, "nobody", headers=XHR)
    assert unknown.status_code == 200
    body = unknown.json()
    assert body["success"] is False and body["url"] == "" and body["room_status"] == ""
    assert body["error"]


def test_ajax_needs_post_the_xhr_header_and_a_form(site, http) -> None:
    add_case(site, "public")
    url = f"{site.base_url}/get_edge_hls_url_ajax/"
    got = http.get(url, headers=XHR)
    assert got.status_code == 403 and got.headers["content-type"].startswith("text/html")
    assert ajax(http, site, "alice").status_code == 403
    as_json = http.post(url, json={"room_slug": "alice"}, headers=XHR)  # not a form: no fields
    assert as_json.json()["success"] is False
    multipart = http.post(url, files={"room_slug": (None, "alice")}, headers=XHR)
    assert multipart.json()["url"] == HLS
    redirect = http.post(url.rstrip("/"), data={"room_slug": "alice"}, headers=XHR)
    assert redirect.status_code == 301 and redirect.headers["location"].endswith("_ajax/")


def test_ajax_csrf_requirement_answers_djangos_403(site, http) -> None:
    add_case(site, "public")
    site.set_options(ajax_csrf_required=True)
    response = ajax(http, site, "alice", headers=XHR)
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")
    assert "CSRF verification failed" in response.text
    assert api(http, site, "alice").json()["hls_source"] == HLS  # the fallbacks still work


@pytest.mark.parametrize("case", sorted(CASES))
def test_api_and_page_dossier_carry_the_same_context(site, http, case) -> None:
    add_case(site, case)
    _, status, revealed = CASES[case]
    response = api(http, site, "alice")
    assert response.status_code == 200
    context = response.json()
    assert context["room_status"] == status
    assert context["hls_source"] == (HLS if revealed else "")
    assert context["num_users"] == 42 and "num_viewers" not in context
    assert context["broadcaster_username"] == "alice" and context["room_title"] == "hi"
    assert context["broadcaster_gender"] == "f" and context["edge_region"]
    assert context["summary_card_image"] == f"{site.base_url}/ri/alice.jpg"
    page = http.get(f"{site.base_url}/alice/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert decode_dossier(page.text) == context


def test_dossier_is_escaped_like_the_real_page(site, http) -> None:
    title = 'say "hi" </script><b>&amp; \\ naïve\nline-2; 🎉'
    site.add_room("alice", hls_url=HLS, title=title, viewers_field="num_viewers", viewers=7)
    page = http.get(f"{site.base_url}/Alice/").text
    assert "\\u0022hls_source\\u0022: \\u0022https:\\/\\/edge1.example\\/live\\u002Dhls" in page
    assert "</script><b>" not in page and title not in page
    dossier = decode_dossier(page)
    assert dossier["room_title"] == title and dossier["num_viewers"] == 7
    assert dossier == api(http, site, "ALICE").json()


def test_api_refuses_password_rooms_both_ways_and_unknown_users(site, http) -> None:
    site.add_room("locked", hls_url=HLS, password=True)
    refused = api(http, site, "locked")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    site.set_room("locked", password_style="json")
    refused = api(http, site, "locked")
    assert refused.status_code == 200 and refused.json()["code"] == "unauthorized"
    assert "hls_source" not in refused.json()
    page = http.get(f"{site.base_url}/locked/").text
    assert decode_dossier(page)["room_status"] == "password protected"
    missing = api(http, site, "nobody")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert missing.json()["code"] == "not_found"


def test_page_unknown_user_age_gate_and_trailing_slash(site, http) -> None:
    add_case(site, "public")
    unknown = http.get(f"{site.base_url}/nobody/")
    assert unknown.status_code == 404 and "initialRoomDossier" not in unknown.text
    moved = http.get(f"{site.base_url}/alice?x=1")
    assert moved.status_code == 301 and moved.headers["location"] == "/alice/?x=1"
    site.set_room("alice", age_gate=True)
    gated = http.get(f"{site.base_url}/alice/")
    assert gated.status_code == 200 and "Verify your age" in gated.text
    assert "initialRoomDossier" not in gated.text
    assert api(http, site, "alice").json()["hls_source"] == HLS  # the gate is on the page only
    site.set_room("alice", age_gate=False)
    site.set_options(age_gate=True)
    assert "Verify your age" in http.get(f"{site.base_url}/alice/").text


def test_onlinerooms_lists_online_rooms_for_the_right_wm_only(site, http) -> None:
    site.add_room("alice", hls_url=HLS, viewers=3, country="DE", tags=["x"], title="t")
    site.add_room("bob", room_status="private", gender="m")
    site.add_room("carol", room_status="offline")
    site.add_room("dave", password=True)
    url = f"{site.base_url}/affiliates/api/onlinerooms/"
    response = http.get(url, params={"format": "json", "wm": "wm123"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    rooms = {r["username"]: r for r in response.json()}
    assert sorted(rooms) == ["alice", "bob", "dave"]
    assert rooms["alice"]["current_show"] == "public" and rooms["bob"]["current_show"] == "private"
    assert rooms["dave"]["current_show"] == "public"
    alice = rooms["alice"]
    assert (alice["gender"], alice["country"], alice["num_users"]) == ("f", "DE", 3)
    assert alice["room_subject"] == "t" and alice["tags"] == ["x"] and alice["is_hd"] is True
    assert alice["image_url"] == f"{site.base_url}/ri/alice.jpg"
    wrong = http.get(url, params={"format": "json", "wm": "nope"})
    assert wrong.status_code == 401 and wrong.json()["status"] == "error"
    assert http.get(url, params={"wm": "wm123"}).status_code == 400
    site.set_options(affiliate_code=None)
    assert http.get(url, params={"format": "json", "wm": "wm123"}).status_code == 401


def test_thumbnails_and_live_room_changes(site, http) -> None:
    add_case(site, "public")
    thumb = http.get(f"{site.base_url}/ri/alice.jpg")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff" and thumb.content.endswith(b"\xff\xd9")
    assert http.get(f"{site.base_url}/ri/nobody.jpg").status_code == 404
    assert site.room("ALICE") is site.set_room("alice", room_status="offline")
    assert ajax(http, site, "alice", headers=XHR).json()["room_status"] == "offline"
    with pytest.raises(ValueError, match="room_status"):
        site.set_room("alice", room_status="bogus")
    with pytest.raises(ValueError, match="unknown room fields"):
        site.set_room("alice", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="username"):
        site.add_room("bad name")
    site.remove_room("alice")
    assert api(http, site, "alice").status_code == 404


def test_responses_look_like_cloudflare_fronted_ones(site, http) -> None:
    add_case(site, "public")
    response = api(http, site, "alice")
    assert response.headers["server"] == "cloudflare" and response.headers["cf-ray"]
    assert "cf-mitigated" not in response.headers


def test_challenge_fault_for_a_count_then_recovers(site, http) -> None:
    add_case(site, "public")
    site.set_fault("challenge", count=2)
    first = api(http, site, "alice")
    assert first.status_code == 403 and first.headers["cf-mitigated"] == "challenge"
    assert "<title>Just a moment...</title>" in first.text and "_cf_chl_opt" in first.text
    assert http.get(f"{site.base_url}/alice/").status_code == 403
    assert api(http, site, "alice").status_code == 200
    site.set_fault("challenge", status=503, target="page")
    assert http.get(f"{site.base_url}/alice/").status_code == 503
    assert api(http, site, "alice").status_code == 200
    with pytest.raises(ValueError):
        site.set_fault("challenge", status=500)


def test_rate_limit_fault_sends_retry_after(site, http) -> None:
    add_case(site, "public")
    site.set_fault("rate_limit", target="ajax", retry_after=7, count=1)
    limited = ajax(http, site, "alice", headers=XHR)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert ajax(http, site, "alice", headers=XHR).status_code == 200
    site.set_fault("rate_limit")
    assert api(http, site, "alice").headers["retry-after"] == "1"


def test_error_fault_hits_its_target_for_a_duration(site, http) -> None:
    add_case(site, "public")
    site.set_fault("error", status=502, target="api", duration=0.3)
    assert api(http, site, "alice").status_code == 502
    assert ajax(http, site, "alice", headers=XHR).status_code == 200
    assert http.get(f"{site.base_url}/alice/").status_code == 200
    time.sleep(0.35)
    assert api(http, site, "alice").status_code == 200
    site.set_fault("error")
    assert http.get(f"{site.base_url}/ri/alice.jpg").status_code == 503  # "all" hits thumbs
    site.clear_faults()
    assert api(http, site, "alice").status_code == 200


def test_non_json_fault_serves_a_maintenance_page_with_200(site, http) -> None:
    add_case(site, "public")
    site.set_fault("non_json", target="bulk")
    bulk = http.get(
        f"{site.base_url}/affiliates/api/onlinerooms/", params={"format": "json", "wm": "wm123"}
    )
    assert bulk.status_code == 200 and bulk.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        bulk.json()
    assert api(http, site, "alice").headers["content-type"] == "application/json"


def test_slow_fault_delays_then_answers(site, http) -> None:
    add_case(site, "public")
    site.set_fault("slow", delay=0.3, count=1)
    started = time.monotonic()
    assert api(http, site, "alice").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api(http, site, "alice")
    assert time.monotonic() - started < 0.25
    site.set_fault("slow", delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"{site.base_url}/alice/", timeout=0.2)


def test_required_cookie_and_user_agent_are_checked(site, http) -> None:
    add_case(site, "public")
    site.set_options(required_cookie="cf_clearance=abc", required_user_agent_substring="Firefox")
    ok = {"Cookie": "a=1; cf_clearance=abc", "User-Agent": BROWSER_UA}
    assert http.get(f"{site.base_url}/alice/", headers=ok).status_code == 200
    wrong_cookie = {**ok, "Cookie": "cf_clearance=abcd"}
    challenged = http.get(f"{site.base_url}/alice/", headers=wrong_cookie)
    assert challenged.status_code == 403 and "Just a moment..." in challenged.text
    wrong_agent = {**ok, "User-Agent": "python-httpx"}
    assert ajax(http, site, "alice", headers={**XHR, **wrong_agent}).status_code == 403
    assert ajax(http, site, "alice", headers={**XHR, **ok}).status_code == 200


def test_request_log_records_each_request(site, http) -> None:
    add_case(site, "public")
    ajax(http, site, "alice", headers={**XHR, "Cookie": "k=v"})
    api(http, site, "alice")
    http.get(f"{site.base_url}/alice/")
    http.get(f"{site.base_url}/ri/alice.jpg")
    http.get(f"{site.base_url}/nowhere/at/all")
    http.get(f"{site.base_url}/_control")  # not logged
    assert [r.kind for r in site.requests()] == ["ajax", "api", "page", "thumb", "other"]
    first = site.requests("ajax")[0]
    assert first.method == "POST" and first.path == "/get_edge_hls_url_ajax/"
    assert first.status == 200 and first.headers["cookie"] == "k=v"
    assert first.form == {"room_slug": "alice", "bandwidth": "high"}
    assert first.body == "room_slug=alice&bandwidth=high"
    assert abs(first.time - time.time()) < 5 and first.monotonic <= time.monotonic()
    assert site.requests("other")[0].status == 404
    assert site.request_count() == 5 and site.request_count("page") == 1
    site.reset_log()
    assert site.request_count() == 0


def test_max_requests_in_window_and_log_capacity() -> None:
    site = FakeChaturbate()  # never started: the log works on its own

    def at(t: float, kind: str = "api") -> SiteRequest:
        return SiteRequest(t, t, "GET", "/", kind, 200, {}, "", {})

    for t in (0.0, 0.5, 0.99, 1.0, 1.2, 5.0):
        site.record(at(t))
    site.record(at(5.1, "page"))
    assert site.max_requests_in_window(1.0) == 4  # [0.5, 1.5): 0.5, 0.99, 1.0, 1.2
    assert site.max_requests_in_window(0.1) == 2
    assert site.max_requests_in_window(1.0, "page") == 1
    assert site.max_requests_in_window(1.0, "bulk") == 0
    site.reset_log()
    for i in range(20_001):
        site.record(at(i / 4))  # exact in binary: 4 per second
    assert site.request_count() == 20_001
    assert site.max_requests_in_window(1.0) == 4


def test_control_http_api(site, http) -> None:
    control = f"{site.base_url}/_control"
    room = http.post(f"{control}/room/Alice", json={"hls_url": HLS, "viewers": 5})
    assert room.status_code == 200 and room.json()["streaming_url"] == HLS
    offline = http.post(f"{control}/room/alice", json={"room_status": "offline"}).json()
    assert offline["status"] == "offline" and offline["viewers"] == 5
    assert http.get(f"{control}/room/alice").json()["hls_url"] == HLS
    assert http.post(f"{control}/room/alice", json={"room_status": "x"}).status_code == 400
    fault = http.post(f"{control}/fault", json={"kind": "error", "status": 500, "count": 1})
    assert fault.json()["faults"][0]["status"] == 500
    assert api(http, site, "alice").status_code == 500
    http.post(f"{control}/fault", json={"kind": "challenge", "duration": 60})
    assert http.post(f"{control}/clear").json()["faults"] == []
    assert http.post(f"{control}/fault", json={"kind": "bogus"}).status_code == 400
    assert http.post(f"{control}/fault", content=b"not json").status_code == 400
    options = http.post(f"{control}/site", json={"affiliate_code": "zz"}).json()["options"]
    assert options["affiliate_code"] == "zz" and site.options["affiliate_code"] == "zz"
    assert http.post(f"{control}/site", json={"nope": 1}).status_code == 400
    assert http.post(f"{control}/nothing").status_code == 404
    assert http.delete(f"{control}/room/alice").json()["removed"] is True
    assert http.get(f"{control}/room/alice").status_code == 404
    state = http.get(control).json()
    assert state["rooms"] == [] and state["request_count"] == 1


def test_stop_is_prompt_with_a_slow_request_in_flight(http) -> None:
    site = FakeChaturbate().start()
    site.add_room("alice")
    site.set_fault("slow", delay=30)
    url = f"{site.base_url}/api/chatvideocontext/alice/"
    assert http.get(f"{site.base_url}/_control").status_code == 200  # a kept-alive connection
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            httpx.get(url, timeout=10)
        except httpx.TransportError as exc:
            errors.append(exc)

    client = threading.Thread(target=fetch)
    client.start()
    time.sleep(0.3)  # the request is now waiting out its delay
    started = time.monotonic()
    site.stop()
    client.join(timeout=5)
    assert time.monotonic() - started < 2 and not client.is_alive()
    assert len(errors) == 1
    assert [r.status for r in site.requests()] == [0]  # logged as unanswered
