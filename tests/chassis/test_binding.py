from __future__ import annotations

import msgspec
import pytest

from chassis.binding import field_of, too_deep


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


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}", None),  # 32 levels: the limit
        (b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}", ["a"]),
        (
            b'{"a": {"b": ' + b"{}, " * 40 + b'"c": ' + b'{"d":' * 31 + b"1" + b"}" * 31 + b"}}",
            ["a", "c", "d"],
        ),
        # Brackets inside strings (escaped quotes included) are text, not nesting.
        (b'{"s": "' + b'[{\\"' * 100 + b'"}', None),
        (b"[" * 1000 + b"]" * 1000, []),
    ],
)
def test_depth_scan_finds_the_first_value_nested_too_deep(body: bytes, path: list[str] | None) -> None:
    found = too_deep(body)
    assert found == path if path is None else found is not None and found[: len(path)] == path
