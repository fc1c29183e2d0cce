"""The base of every event sent to a user or channel (and relayed as SSE).

Each event is a Struct subclass with `tag="<event name>"`; its JSON carries
`"event": "<name>"`, `"channel": "<user:…|channel:…>"` and its fields. Modules
defining events import `Event` from here; `docs/channels.md` lists them all.
"""

from __future__ import annotations

import msgspec


class Event(msgspec.Struct, tag_field="event", kw_only=True):
    channel: str = ""


def event_name(event: Event | type[Event]) -> str:
    cls = event if isinstance(event, type) else type(event)
    tag = cls.__struct_config__.tag
    return str(tag)


def all_events() -> list[type[Event]]:
    """Every concrete event type, from every module that defines one (imported here)."""
    import proto.event_modules  # noqa: F401 - registers the event modules

    found: list[type[Event]] = []
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=event_name)
