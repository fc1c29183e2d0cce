"""`python -m proto.docs` (`make docs`): write docs/channels.md from the proto types.

Channels and subjects come from `proto.subjects`, events from `proto.events.all_events()`
(their docstrings say when and where each is sent), and the message on each JetStream
subject from the `MESSAGES` mapping of every proto module. A test fails when the
committed file differs from what this renders."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import types
import typing
from pathlib import Path
from typing import Any

import msgspec

import proto
from proto import subjects
from proto.events import Event, all_events, event_name

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "channels.md"


def proto_modules() -> list[types.ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(proto.__path__) if m.name != "docs")
    return [importlib.import_module(f"proto.{name}") for name in names]


def messages() -> dict[str, type[msgspec.Struct]]:
    found: dict[str, type[msgspec.Struct]] = {}
    for module in proto_modules():
        found.update(getattr(module, "MESSAGES", {}))
    return dict(sorted(found.items()))


def type_name(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' if isinstance(a, str) else repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if tp is type(None):
        return "null"
    return str(getattr(tp, "__name__", tp))


def default_text(field: msgspec.structs.FieldInfo) -> str:
    if field.required:
        return "required"
    if field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, msgspec.Struct):
        return f"`{msgspec.json.encode(value).decode()}`"
    return f"`{msgspec.json.encode(value).decode()}`" if value is not None else "`null`"


def nested_structs(tp: Any) -> list[type[msgspec.Struct]]:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return [tp]
    return [s for arg in typing.get_args(tp) for s in nested_structs(arg)]


def summary(cls: type) -> str:
    doc = inspect.getdoc(cls) if cls.__doc__ else None
    return " ".join(doc.split()) if doc else "(undocumented)"


def fields_table(cls: type[msgspec.Struct], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| field | type | default |", "|---|---|---|"]
    for field in msgspec.structs.fields(cls):
        if field.name in skip:
            continue
        rows.append(f"| `{field.encode_name}` | {type_name(field.type)} | {default_text(field)} |")
    return rows


def render() -> str:
    events = all_events()
    by_subject = messages()
    out = [
        "# Channels, subjects and events",
        "",
        "Generated from `proto/` by `make docs` (`python -m proto.docs`); do not edit by hand, a test",
        "fails when this file is stale. How clients receive events (SSE, tickets, replay) is in",
        "[events.md](events.md).",
        "",
        "## Channels",
        "",
        "Every event is published to one or more channels. Each channel is a NATS subject stored in the",
        f"`{subjects.STREAM_EVENTS}` stream and republished live on `{subjects.LIVE_PREFIX}.<subject>` with",
        "its stream sequence in the `Nats-Sequence` header (the SSE `id:`).",
        "",
        "| channel | stored on | live on | who may follow it |",
        "|---|---|---|---|",
        f"| `user:<user_id>` | `events.user.<user_id>` | `{subjects.LIVE_PREFIX}.events.user.<user_id>` "
        "| that user only (always included in their stream) |",
        f"| `channel:<conversation_id>` | `events.channel.<conversation_id>` "
        f"| `{subjects.LIVE_PREFIX}.events.channel.<conversation_id>` "
        "| callers persona_svc lets read the conversation (`GET /conversations/{conversation_id}` → 200) |",
        *(
            f"| `{name}` | `{subjects.channel_subject(name)}` | `{subjects.live_subject(name)}` "
            "| anyone, visitors too (`GET /events?channels=…` without a credential); carries only what "
            "every visitor may read |"
            for name in subjects.PUBLIC_CHANNELS
        ),
        "",
        "## Subjects",
        "",
        "| subject | kind | message |",
        "|---|---|---|",
    ]
    streams = {
        subjects.STREAM_JOBS: subjects.JOB_SUBJECTS,
        subjects.STREAM_RESULTS: subjects.RESULT_SUBJECTS,
        subjects.STREAM_DEAD: (subjects.JOBS_DEAD,),
    }
    for stream, names in streams.items():
        for name in names:
            message = by_subject.get(name)
            text = f"[`{message.__name__}`](#{message.__name__.lower()})" if message else "—"
            out.append(f"| `{name}` | JetStream `{stream}` | {text} |")
    out += [
        "| `events.user.<id>`, `events.channel.<id>`, `events.public.<name>` "
        f"| JetStream `{subjects.STREAM_EVENTS}` "
        "| an event (below), JSON, header `Event` = its name |",
        f"| `{subjects.LIVE_PREFIX}.events.…` | core, republished by `{subjects.STREAM_EVENTS}` "
        "| the same event, headers `Event` and `Nats-Sequence` |",
        f"| `{subjects.CONTROL_WARMUP_CHAT}` | core publish, queue group `workers` | `ChatWarmup`: a "
        "conversation's next prompt (when it opens or is opened again), for a worker to have the "
        "model read it before the next message (`LLM_WARMUP`; a lost one only loses the head start) |",
        f"| `{subjects.CONTROL_CANCEL_PREFIX}.<job_id>` | core request/reply | empty; the running worker "
        'answers `{"cancelling": true}` (`chassis.jobs.request_cancel` also leaves a marker in '
        f"`{subjects.KV_CANCELS}`) |",
        f"| `{subjects.http_subject('<service>')}` | core request/reply, queue group `<service>` "
        "| `BridgeRequest` → `BridgeResponse` (msgpack, see bus.md) |",
        "",
        "Buckets: key-value "
        + ", ".join(f"`{b}`" for b in (subjects.KV_REVOKED, subjects.KV_CANCELS, subjects.KV_SSE_TICKETS))
        + f"; object store `{subjects.OBJ_BODIES}`.",
        "",
        "## Events",
        "",
        "Every event's JSON has `event` (its name) and `channel` (where it was published) besides the",
        "fields below.",
        "",
    ]
    seen: set[type[msgspec.Struct]] = set()
    referenced: list[type[msgspec.Struct]] = []

    def note_nested(cls: type[msgspec.Struct]) -> None:
        for field in msgspec.structs.fields(cls):
            for nested in nested_structs(field.type):
                if nested not in seen and nested not in referenced:
                    referenced.append(nested)

    for event in events:
        out += [f"### `{event_name(event)}`", "", summary(event), ""]
        out += fields_table(event, skip=("channel",))
        out.append("")
        note_nested(event)
    out += ["## Messages", ""]
    for subject, message in by_subject.items():
        seen.add(message)
        out += [f"### {message.__name__}", "", f"On `{subject}`. {summary(message)}", ""]
        out += fields_table(message)
        out.append("")
        note_nested(message)
    while referenced:
        cls = referenced.pop(0)
        if cls in seen or issubclass(cls, Event):
            continue
        seen.add(cls)
        out += [f"### {cls.__name__}", "", summary(cls), ""]
        out += fields_table(cls)
        out.append("")
        note_nested(cls)
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            raise SystemExit(f"{OUTPUT} is stale: run `make docs`")
        return
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
