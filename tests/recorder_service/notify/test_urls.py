"""Where notifications may go: http(s) only, not the services' own ports on this host, not
link-local or metadata addresses unless NOTIFY_ALLOW_HOSTS lists them; and how URLs are shown."""

from __future__ import annotations

import pytest

from recorder_service.notify.apprise_sender import check_apprise_url, mask_apprise_url
from recorder_service.notify.urls import UrlPolicy, mask_url
from servicekit.errors import InvalidArgument

POLICY = UrlPolicy.build(
    own_ports=[50051, 50052, 9091, 9092, 8080], own_hosts=["127.0.0.1"], allow=[]
)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/streamrec",
        "http://192.168.1.20:8123/api/webhook/abc",  # a home server on the LAN
        "http://127.0.0.1:9000/hook",  # loopback, not one of our ports
        "http://[::1]:9000/hook",
        "https://example.com:8080/hook",  # 8080 elsewhere is fine
    ],
)
def test_allowed_webhook_urls(url) -> None:
    POLICY.check_webhook_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "UNSUPPORTED_PROTOCOL"),
        ("file:///etc/passwd", "UNSUPPORTED_PROTOCOL"),
        ("javascript:alert(1)", "UNSUPPORTED_PROTOCOL"),
        ("http:///nohost", "INVALID_URL"),
        ("http://127.0.0.1:50052/streamrec.v1.RecorderService/StopRecording", "UNSAFE_URL"),
        ("http://localhost:8080/api/stop/x", "UNSAFE_URL"),
        ("http://[::1]:9092/metrics", "UNSAFE_URL"),
        ("http://0.0.0.0:50051/", "UNSAFE_URL"),
        ("http://169.254.169.254/latest/meta-data/", "UNSAFE_URL"),
        ("http://[fe80::1]/x", "UNSAFE_URL"),
        ("http://[::ffff:169.254.169.254]/x", "UNSAFE_URL"),
        ("http://metadata.google.internal/computeMetadata/v1/", "UNSAFE_URL"),
        ("http://100.100.100.200/latest/meta-data/", "UNSAFE_URL"),
        ("http://[fd00:ec2::254]/latest/", "UNSAFE_URL"),
    ],
)
def test_refused_webhook_urls(url, reason) -> None:
    with pytest.raises(InvalidArgument) as caught:
        POLICY.check_webhook_url(url)
    assert caught.value.reason == reason


def test_the_operator_can_allow_a_refused_host() -> None:
    policy = UrlPolicy.build(
        own_ports=[8080], own_hosts=[], allow=["169.254.0.0/16", "localhost:8080"]
    )
    policy.check_webhook_url("http://169.254.10.10/hook")
    policy.check_webhook_url("http://localhost:8080/hook")
    with pytest.raises(InvalidArgument):
        policy.check_webhook_url("http://127.0.0.1:8080/hook")  # not the name that was listed


async def test_a_name_that_resolves_to_a_refused_address_is_refused_before_sending() -> None:
    with pytest.raises(InvalidArgument) as caught:
        await POLICY.check_resolved("localhost", 50052)
    assert caught.value.reason == "UNSAFE_URL"
    await POLICY.check_resolved("localhost", 9000)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/streamrec", "https://hooks.example.com/streamrec"),
        (
            "https://user:pw@hooks.example.com:8443/in?token=s3cr3t&x=1",
            "https://***@hooks.example.com:8443/in?token=***&x=***",
        ),
        (
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/T00000000/B00000000/***",
        ),
    ],
)
def test_urls_are_shown_masked(url, shown) -> None:
    assert mask_url(url) == shown


def test_apprise_urls_are_checked_and_shown_masked() -> None:
    check_apprise_url("ntfy://ntfy.example.com/alerts", POLICY)
    check_apprise_url("discord://1234567890/abcdefghijklmnopTOKEN", POLICY)
    for bad in ["nosuchservice://x", "http//broken", ""]:
        with pytest.raises(InvalidArgument):
            check_apprise_url(bad, POLICY)
    for unsafe in ["json://127.0.0.1:50052/x", "ntfy://169.254.169.254/topic"]:
        with pytest.raises(InvalidArgument) as caught:
            check_apprise_url(unsafe, POLICY)
        assert caught.value.reason == "UNSAFE_URL"
    shown = mask_apprise_url("ntfy://user:supersecretpw@ntfy.example.com/alerts")
    assert "supersecretpw" not in shown and "ntfy.example.com" in shown
    shown = mask_apprise_url("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/12345")
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in shown
