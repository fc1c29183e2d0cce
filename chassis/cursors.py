"""Opaque keyset cursors: the sort key of the last row of a page, never an offset.

A cursor is the base64url of a small JSON array whose first element names the key
kind (a tagged, array-like msgspec Struct), so a cursor from one ordering is refused
by another. Each page asks for rows strictly after the key, so rows inserted
meanwhile can never shift a page (no duplicates, no gaps), which an OFFSET would.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import msgspec

from chassis.errors import UnprocessableEntity

S = TypeVar("S", bound=msgspec.Struct)

_encoder = msgspec.json.Encoder()


class Cursors:
    """The cursors of one service's orderings: `keys` is the Struct (or union of Structs) they hold;
    `field` names the query parameter in the 422 of a cursor that is not ours."""

    def __init__(self, keys: Any, *, field: str = "cursor") -> None:
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(keys)
        self.field = field

    def encode(self, key: msgspec.Struct) -> str:
        return base64.urlsafe_b64encode(_encoder.encode(key)).rstrip(b"=").decode()

    def decode(self, cursor: str | None, kind: type[S]) -> S | None:
        """The key inside `cursor`, or None for the first page; 422 when it is not ours."""
        if cursor is None or cursor == "":
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            key = self._decoder.decode(raw)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise UnprocessableEntity(
                "cursor is not valid: pass meta.next_cursor as is", field=self.field
            ) from None
        if not isinstance(key, kind):
            raise UnprocessableEntity("cursor belongs to another ordering or list", field=self.field)
        return key
