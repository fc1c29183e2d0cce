from __future__ import annotations

import msgspec
import pytest

from chassis.binding import field_of


class Inner(msgspec.Struct, forbid_unknown_fields=True):
    x: int


class Outer(msgspec.Struct, forbid_unknown_fields=True):
    inner: Inner
    items: list[int] = []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"inner": {"x": "1"}}', "inner.x"),
        (b'{"inner": {"x": 1, "y": 2}}', "inner.y"),
        (b'{"inner": {"x": 1}, "extra": true}', "extra"),
        (b"{}", "inner"),
        (b'{"inner": {"x": 1}, "items": [1, "a"]}', "items[1]"),
    ],
)
def test_validation_errors_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError) as exc:
        msgspec.json.decode(body, type=Outer)
    assert field_of(exc.value)[1] == field
