"""Ids: every new one is a distinct UUID, and text that is not one is told apart (a lookup of it
finds nothing rather than failing in the database)."""

from __future__ import annotations

import uuid

from chassis.ids import is_uuid, new_id, parse_uuid


def test_new_ids_are_distinct_uuids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(str(uuid.UUID(i)) == i for i in ids)


def test_text_that_is_not_a_uuid_is_told_apart() -> None:
    one = new_id()
    assert parse_uuid(one) == uuid.UUID(one) and is_uuid(one)
    for junk in ("", "junk", "1234", one[:-1], "../etc/passwd"):
        assert parse_uuid(junk) is None and not is_uuid(junk)
