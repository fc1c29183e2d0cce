"""Encoders shared by every component; decoders live beside the types they decode."""

from __future__ import annotations

import msgspec

json_encoder = msgspec.json.Encoder()
msgpack_encoder = msgspec.msgpack.Encoder()
