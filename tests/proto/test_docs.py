"""docs/channels.md is generated from proto/ and must match what `make docs` renders now."""

from __future__ import annotations

import msgspec

from proto import docs
from proto.events import all_events, event_name


def test_committed_channels_doc_is_current() -> None:
    assert docs.OUTPUT.read_text() == docs.render(), "docs/channels.md is stale: run `make docs`"


def test_every_event_and_its_fields_are_listed() -> None:
    text = docs.render()
    for event in all_events():
        section = text.split(f"### `{event_name(event)}`\n", 1)[1].split("\n### ", 1)[0]
        for field in msgspec.structs.fields(event):
            if field.name != "channel":
                assert f"| `{field.encode_name}` |" in section, (event_name(event), field.name)


def test_every_job_and_result_subject_names_its_message() -> None:
    text = docs.render()
    for subject, message in docs.messages().items():
        assert f"| `{subject}` | JetStream" in text and f"### {message.__name__}\n" in text
