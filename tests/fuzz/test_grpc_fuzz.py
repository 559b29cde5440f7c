"""Every gRPC method of the recorder (RecorderService, ChannelService, RecordingService) and of
the resolver (ResolverService) fed hypothesis-generated messages and raw random bytes, against
the real services.

Messages are built from the request descriptors: strings mix unicode, NUL, ``../``, ffmpeg
protocols (``file:``, ``concat:``...), CRLF and huge values with plausible usernames, names and
URLs (at a closed local port: nothing reaches the internet); integers include negatives and
the type's limits; enums include numbers the protos do not define; nested messages and field
masks are filled the same way. The only answers allowed are OK or a status that names bad input
or a dependency (ALLOWED); never INTERNAL or UNKNOWN. Each method gets messages with any of
its fields set that way, and its valid template with one field (at any depth) replaced, so the
checks behind the first ones are reached too. A start that succeeds is stopped at once; the
module ends with no ffmpeg, both servers alive and SERVING, the database and the planted
secrets where they were and nothing new outside records/ and sessions/."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, message_factory, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simlab.harness import Stack
from streamrec.v1 import (
    channel_service_pb2,
    log_service_pb2,
    notification_service_pb2,
    quality_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    resolver_service_pb2,
)
from tests.fuzz.support import (
    SECRET,
    assert_stack_healthy,
    offline_env,
    plant,
    secrets,
    tree,
)

pytestmark = pytest.mark.e2e

MESSAGE_EXAMPLES = 40
BYTES_EXAMPLES = 25
CALL_TIMEOUT = 10.0
WATCH_TIMEOUT = 0.5
#: Planted before the stack starts (records/fuzz/), and named by the templates.
RECORDING = "fuzz_20260101_000000_0123456789ab.ts"

ALLOWED = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.CANCELLED,
    }
)


@dataclass(frozen=True)
class Method:
    """One RPC: where it is served and what it takes."""

    server: str  # "recorder_service" or "resolver_service"
    descriptor: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.descriptor.containing_service.full_name}/{self.descriptor.name}"

    @property
    def streaming(self) -> bool:
        return bool(self.descriptor.server_streaming)

    @property
    def request_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.descriptor.input_type)

    def __str__(self) -> str:
        return f"{self.descriptor.containing_service.name}.{self.descriptor.name}"


SERVICES = [
    ("recorder_service", recorder_service_pb2, "RecorderService"),
    ("recorder_service", channel_service_pb2, "ChannelService"),
    ("recorder_service", recording_service_pb2, "RecordingService"),
    ("resolver_service", resolver_service_pb2, "ResolverService"),
    ("recorder_service", log_service_pb2, "LogService"),
    ("resolver_service", log_service_pb2, "LogService"),
    ("recorder_service", notification_service_pb2, "NotificationService"),
]
METHODS = [
    Method(server, method)
    for server, module, name in SERVICES
    for method in module.DESCRIPTOR.services_by_name[name].methods
]

# -- values ---------------------------------------------------------------------------------

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
INTERESTING_INTS = (0, 1, -1, 2, 7, 99, 100, 101, 999, 1000, 1001, 10_000, 10_001, 36_501)


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (*INTERESTING_INTS, low, high, low + 1, high - 1) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def hostile_strings(dead: str) -> list[str]:
    """Strings every string field is tried with; ``dead`` is a URL base nothing listens on."""
    return [
        "",
        " ",
        "\x00",
        "alice\x00",
        "..",
        "../",
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
        "%2e%2e%2f",
        "a/b",
        ".hidden",
        "file:/etc/passwd",
        "file:///etc/passwd",
        "concat:/etc/passwd|/etc/hosts",
        "subfile:,,start,0,end,0,,:/etc/passwd",
        "data:application/x-mpegurl;base64,I0VYVE0zVQ==",
        "pipe:0",
        "tcp://127.0.0.1:9",
        "rtmp://127.0.0.1/live/x",
        f"hls+{dead}/x.m3u8",
        f"{dead}/x.m3u8|file:/etc/passwd",
        f"{dead}/x.m3u8\r\nX-Injected: 1",
        f"{dead}/live/x/master.m3u8",
        f"{dead}/alice/",
        "http://user:pass@127.0.0.1/x.m3u8",
        "https://",
        "alice",
        "ALICE",
        "alice\nbob",
        "a" * 64,
        "a" * 65,
        "x" * 5_000,
        "x" * 300_000,
        "é🙂\u202e\ufeff",
        "con",
        "records",
        "streamrec.db",
        "alice_20260101_000000_0123456789ab.ts",
        "../streamrec.db",
        "stream.m3u8",
    ]


#: A valid request per method (``dead`` is filled in), for the single-field mutations.
TEMPLATES: dict[str, dict[str, Any]] = {
    "StartRecording": {"target": "{dead}/live/fuzz/master.m3u8", "person": "fuzz", "name": "F"},
    "StopRecording": {"sessionId": "0123456789ab"},
    "GetSession": {"sessionId": "0123456789ab"},
    "OpenPreview": {"sessionId": "0123456789ab"},
    "ListSessions": {"pageSize": 10, "includeEnded": True},
    "WatchSessions": {"afterSequence": "0"},
    "CreateChannel": {"channel": {"username": "fuzzchan", "autoRecord": False}},
    "GetChannel": {"username": "fuzzchan"},
    "ListChannels": {"pageSize": 10},
    "UpdateChannel": {
        "channel": {"username": "fuzzchan", "name": "F", "quality": {"height": 720}},
        "updateMask": "name,quality",
    },
    "DeleteChannel": {"username": "fuzzchan"},
    "CheckChannelStatus": {"target": "fuzzchan"},
    "ListRecordings": {"person": "fuzz", "pageSize": 10},
    "GetRecording": {"person": "fuzz", "fileName": RECORDING},
    "UpdateRecording": {
        "recording": {"person": "fuzz", "fileName": RECORDING},
        "updateMask": "pinned",
    },
    "DeleteRecording": {"person": "fuzz", "fileName": RECORDING},
    "RunRetention": {"person": "fuzz", "dryRun": True},
    "GetStorage": {},
    "Resolve": {"target": "{dead}/live/fuzz/master.m3u8", "quality": {"height": 720}},
    "GetChannelStatus": {"target": "fuzzchan"},
    "GetRoomImage": {"target": "fuzzchan"},
    "ClassifyTarget": {"target": "https://chaturbate.com/fuzzchan/", "source": ""},
    "BatchGetChannelStatus": {"targets": ["fuzzchan", "{dead}/live/fuzz/master.m3u8"]},
    "ListLogs": {
        "minLevel": "LOG_LEVEL_INFO",
        "services": ["recorder", "resolver"],
        "text": "fuzz",
        "correlationId": "fuzz-1",
        "since": "2026-01-01T00:00:00Z",
        "limit": 10,
    },
    # Notification targets aim at the dead port too: nothing leaves the machine.
    "CreateTarget": {
        "target": {
            "kind": "TARGET_KIND_WEBHOOK",
            "url": "{dead}/hook",
            "secret": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=",
            "eventTypes": ["recording.*"],
            "channels": ["fuzz"],
        },
        "requestId": "fuzz-1",
    },
    "GetTarget": {"id": "tgt_0123456789ab"},
    "ListTargets": {},
    "UpdateTarget": {"target": {"id": "tgt_0123456789ab", "name": "F"}, "updateMask": "name"},
    "DeleteTarget": {"id": "tgt_0123456789ab"},
    "TestTarget": {"id": "tgt_0123456789ab"},
    "ListDeliveries": {"state": "DELIVERY_STATE_DEAD", "pageSize": 10},
    "RetryDelivery": {"id": "1"},
    "ListEventTypes": {},
}


@dataclass(frozen=True)
class Fuzzer:
    """Hypothesis strategies for request messages, from their descriptors.

    ``dead`` is a URL base nothing listens on; ``closed_enums`` lists enum fields (by full
    name) given only defined numbers (for a known bug that would hide everything else)."""

    dead: str
    closed_enums: frozenset[str] = frozenset()

    def strings(self, field: FieldDescriptor) -> st.SearchStrategy[str]:
        plausible: list[st.SearchStrategy[str]] = [
            st.from_regex(r"\A[a-z0-9_]{1,20}\Z"),
            st.from_regex(r"\A[a-z0-9_]{1,20}\.(ts|mp4)\Z"),
        ]
        if "target" in field.name:
            plausible.append(
                st.from_regex(r"\A[a-z0-9]{1,10}\Z").map(lambda n: f"{self.dead}/{n}.m3u8")
            )
        return st.one_of(
            st.sampled_from(hostile_strings(self.dead)),
            *plausible,
            st.text(max_size=80),
            st.text(st.characters(codec="ascii"), max_size=40),
        )

    def scalars(self, field: FieldDescriptor) -> st.SearchStrategy[Any]:
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.strings(field)
        if kind == FieldDescriptor.TYPE_BYTES:
            return st.binary(max_size=64)
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind in INT_RANGES:
            return integers(*INT_RANGES[kind])
        if kind == FieldDescriptor.TYPE_DOUBLE:
            return st.floats(allow_nan=True, allow_infinity=True)
        if kind == FieldDescriptor.TYPE_FLOAT:
            return st.floats(width=32, allow_nan=True, allow_infinity=True)
        if kind == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            known = st.sampled_from([v.number for v in field.enum_type.values])
            if field.full_name in self.closed_enums:
                return known
            # Unknown numbers too: proto3 enums are open, a newer client may send them.
            return st.one_of(known, integers(-(2**31), 2**31 - 1))
        raise AssertionError(f"no strategy for field type {kind} ({field.full_name})")

    def values(
        self, field: FieldDescriptor, depth: int, sibling: Descriptor | None
    ) -> st.SearchStrategy[Any]:
        """Values for one field (a list of them for a repeated one)."""
        if field.message_type is not None:
            value = self.messages(field.message_type, depth + 1, sibling)
        else:
            value = self.scalars(field)
        return st.lists(value, max_size=6 if depth else 12) if field.is_repeated else value

    def messages(
        self, descriptor: Descriptor, depth: int = 0, sibling: Descriptor | None = None
    ) -> st.SearchStrategy[Message]:
        """Messages with any subset of their fields set to hostile values. ``sibling`` is the
        message a FieldMask refers to (UpdateX(x=..., update_mask=...))."""
        cls = message_factory.GetMessageClass(descriptor)
        if descriptor.full_name == "google.protobuf.FieldMask":
            return field_mask_paths(sibling).map(lambda paths: cls(paths=paths))  # type: ignore[call-arg]
        target = next((f.message_type for f in descriptor.fields if f.message_type), None)
        fields = {
            f.name: self.values(f, depth, target)
            for f in descriptor.fields
            if f.message_type is None or depth < 3
        }
        return st.fixed_dictionaries({}, optional=fields).map(lambda kw: build(cls, kw))

    def mutations(self, method: Method) -> st.SearchStrategy[Message]:
        """The method's valid template with exactly one field (at any depth) replaced, so
        every field's checks are reached past the others'."""
        descriptor = method.descriptor.input_type
        text = json.dumps(TEMPLATES[method.descriptor.name]).replace("{dead}", self.dead)
        template = json_format.Parse(text, method.request_class())
        sibling = next((f.message_type for f in descriptor.fields if f.message_type), None)
        choices = [
            st.tuples(st.just(path), self.values(field, len(path) - 1, sibling))
            for path, field in leaf_fields(descriptor)
        ]
        return st.one_of(choices).map(lambda change: replaced(template, *change))


def leaf_fields(
    descriptor: Descriptor, prefix: tuple[str, ...] = (), depth: int = 0
) -> list[tuple[tuple[str, ...], FieldDescriptor]]:
    """Every field path of a message, nested singular messages included (to depth 2)."""
    found = []
    for field in descriptor.fields:
        path = (*prefix, field.name)
        found.append((path, field))
        nested = field.message_type
        if nested is not None and not field.is_repeated and depth < 2:
            if nested.full_name != "google.protobuf.FieldMask":
                found += leaf_fields(nested, path, depth + 1)
    return found


def replaced(template: Message, path: tuple[str, ...], value: Any) -> Message:
    message = type(template)()
    message.CopyFrom(template)
    owner = message
    for name in path[:-1]:
        owner = getattr(owner, name)
    owner.ClearField(path[-1])
    build_into(owner, {path[-1]: value})
    return message


def field_mask_paths(owner: Descriptor | None) -> st.SearchStrategy[list[str]]:
    """Paths of the sibling message's fields (settable or not, nested or not) and junk."""
    names = [f.name for f in owner.fields] if owner else []
    known = [*names, "quality.height", "quality.policy", "*", "", "username", "no_such_field"]
    return st.lists(st.one_of(st.sampled_from(known), st.text(max_size=20)), max_size=5)


def build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    build_into(message, values)
    return message


def build_into(message: Message, values: dict[str, Any]) -> None:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.is_repeated:
            getattr(message, name).extend(value)
        elif field.message_type is not None:
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)


# -- calls ----------------------------------------------------------------------------------


@dataclass
class Caller:
    """Sends raw request bytes to any method; stops every session a start creates."""

    channels: dict[str, grpc.Channel]
    started: list[str]
    outcomes: dict[str, Counter[str]]

    def call(self, method: Method, request: bytes, shown: Message | None = None) -> grpc.StatusCode:
        """Send ``request``; the status must be in ALLOWED (``shown``: the message, for the
        failure's text)."""
        channel = self.channels[method.server]
        code, reply = grpc.StatusCode.OK, b""
        try:
            if method.streaming:
                stream = channel.unary_stream(
                    method.path, request_serializer=_raw, response_deserializer=_raw
                )(request, timeout=WATCH_TIMEOUT)
                try:
                    next(stream)  # at most one message
                except StopIteration:
                    pass
                finally:
                    stream.cancel()
            else:
                reply = channel.unary_unary(
                    method.path, request_serializer=_raw, response_deserializer=_raw
                )(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            code = exc.code()
            detail = f"{code.name}: {exc.details()}"
        else:
            detail = "OK"
        self.outcomes.setdefault(str(method), Counter())[code.name] += 1
        if method.path.endswith("/StartRecording") and code == grpc.StatusCode.OK:
            self.stop(recorder_service_pb2.StartRecordingResponse.FromString(reply))
        what = text_format.MessageToString(shown, as_one_line=True) if shown else request
        assert code in ALLOWED, f"{method} -> {detail} for request {str(what)[:300]}"
        return code

    def stop(self, started: recorder_service_pb2.StartRecordingResponse) -> None:
        session_id = started.session.session_id
        self.started.append(session_id)
        stop = self.channels["recorder_service"].unary_unary(
            "/streamrec.v1.RecorderService/StopRecording",
            request_serializer=_raw,
            response_deserializer=_raw,
        )
        request = recorder_service_pb2.StopRecordingRequest(session_id=session_id)
        try:
            stop(request.SerializeToString(), timeout=30)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc  # it ended by itself


def _raw(data: bytes) -> bytes:
    return data


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The offline stack, over planted secrets and one recording (records/fuzz/...) that the
    templates name, so that Get/Update/DeleteRecording also reach a real file."""
    workdir = tmp_path_factory.mktemp("grpc")
    plant(workdir, "fuzz", RECORDING)
    with Stack(workdir, env_extra=offline_env()) as running:
        yield running


@pytest.fixture(scope="module")
def caller(stack: Stack) -> Iterator[Caller]:
    before = tree(stack.output_dir)
    started = time.monotonic()
    channels = {
        "recorder_service": grpc.insecure_channel(f"127.0.0.1:{stack.recorder_port}"),
        "resolver_service": grpc.insecure_channel(f"127.0.0.1:{stack.resolver_port}"),
    }
    running = Caller(channels, [], {})
    try:
        yield running
        # Whatever went through: no ffmpeg, both servers up and SERVING, no file moved.
        assert_stack_healthy(stack)
        for server, channel in channels.items():
            health = health_pb2_grpc.HealthStub(channel)
            reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, server
        after = tree(stack.output_dir)
        assert "streamrec.db" in after
        for path in secrets(stack.workdir):
            assert path.read_bytes() == SECRET, f"{path} changed or went away"
        # Gone: at most a recording (DeleteRecording and RunRetention may delete those).
        assert {
            p for p in before - after if not p.startswith(("records/fuzz", "streamrec.db-"))
        } == set()
        assert {
            p for p in after - before if not p.startswith(("records", "sessions", "streamrec.db-"))
        } == set()
    finally:
        for channel in channels.values():
            channel.close()
        lines = [f"{m}: {dict(c)}" for m, c in running.outcomes.items()]
        summary = f"gRPC fuzz: {time.monotonic() - started:.1f} s, sessions started: "
        print(f"\n{summary}{running.started}", *lines, sep="\n  ")  # noqa: T201


FUZZ = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


#: Enum fields fuzzed with defined numbers only, per method: the resolver fails on an unknown
#: QualityPolicy (see test_resolve_refuses_an_unknown_quality_policy), which would otherwise
#: be the only thing this module finds in Resolve.
CLOSED_ENUMS = {"Resolve": frozenset({"streamrec.v1.QualityPreference.policy"})}


@pytest.mark.parametrize("method", METHODS, ids=str)
def test_generated_messages_get_a_clear_answer(
    method: Method, caller: Caller, stack: Stack
) -> None:
    fuzzer = Fuzzer(
        stack.env_extra["CHATURBATE_BASE_URL"],
        CLOSED_ENUMS.get(method.descriptor.name, frozenset()),
    )
    requests = st.one_of(fuzzer.messages(method.descriptor.input_type), fuzzer.mutations(method))

    @settings(FUZZ, max_examples=MESSAGE_EXAMPLES)
    @given(request=requests)
    def run(request: Message) -> None:
        caller.call(method, request.SerializeToString(), shown=request)

    run()


@pytest.mark.parametrize("policy", [-1, 6, 2**31 - 1])
def test_resolve_refuses_an_unknown_quality_policy(
    caller: Caller, stack: Stack, policy: int
) -> None:
    method = next(m for m in METHODS if m.descriptor.name == "Resolve")
    request = resolver_service_pb2.ResolveRequest(
        target=f"{stack.env_extra['CHATURBATE_BASE_URL']}/live/fuzz/master.m3u8",
        quality=quality_pb2.QualityPreference(height=720, policy=policy),  # type: ignore[arg-type]
    )
    assert caller.call(method, request.SerializeToString()) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("policy", [-1, 6, 2**31 - 1])
def test_start_recording_refuses_an_unknown_quality_policy(
    caller: Caller, stack: Stack, policy: int
) -> None:
    method = next(m for m in METHODS if m.descriptor.name == "StartRecording")
    request = recorder_service_pb2.StartRecordingRequest(
        target=f"{stack.env_extra['CHATURBATE_BASE_URL']}/live/fuzz/master.m3u8",
        quality=quality_pb2.QualityPreference(height=720, policy=policy),  # type: ignore[arg-type]
    )
    assert caller.call(method, request.SerializeToString()) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("method", METHODS, ids=str)
def test_random_bytes_that_decode_get_a_clear_answer(method: Method, caller: Caller) -> None:
    """Random bytes that happen to be a valid encoding (unknown fields, odd values)."""

    def decodes(data: bytes) -> bool:
        try:
            method.request_class.FromString(data)
        except DecodeError:
            return False
        return True

    tagged = st.binary(max_size=64).map(lambda b: b"\x0a" + bytes([len(b)]) + b)

    @settings(FUZZ, max_examples=BYTES_EXAMPLES)
    @given(request=st.one_of(st.binary(max_size=64), tagged).filter(decodes))
    def run(request: bytes) -> None:
        caller.call(method, request)

    run()


@pytest.mark.parametrize("method", METHODS, ids=str)
def test_random_bytes_get_a_clear_answer(method: Method, caller: Caller) -> None:
    @settings(FUZZ, max_examples=BYTES_EXAMPLES)
    @given(request=st.binary(min_size=1, max_size=256))
    def run(request: bytes) -> None:
        caller.call(method, request)

    run()


@pytest.mark.parametrize("server", ["recorder_service", "resolver_service"])
def test_a_message_over_the_size_limit_is_resource_exhausted(server: str, caller: Caller) -> None:
    method = next(m for m in METHODS if m.server == server)
    huge = method.request_class()
    text_field = next(f for f in huge.DESCRIPTOR.fields if f.type == FieldDescriptor.TYPE_STRING)
    setattr(huge, text_field.name, "x" * (5 * 1024 * 1024))
    assert caller.call(method, huge.SerializeToString()) == grpc.StatusCode.RESOURCE_EXHAUSTED
