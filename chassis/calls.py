"""Typed answers to calls between services: a reply's `{"data": …}` decoded into a proto type,
or a typed error naming what went wrong (`BusClient.fetch` is the call)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from proto.common import error_envelope_decoder

T = TypeVar("T")
# The type to fetch when the answer has no body (204): the call then returns None.
NO_CONTENT: type[None] = type(None)


class BusError(Exception):
    """A service answered, but not with what the caller asked for."""

    def __init__(self, service: str, status: int, message: str) -> None:
        super().__init__(f"{service} answered {status}: {message}")
        self.service = service
        self.status = status
        self.message = message


class BusCallError(BusError):
    """A non-2xx answer; `code` and `message` come from the service's error envelope."""

    def __init__(self, service: str, status: int, code: str, message: str) -> None:
        super().__init__(service, status, message)
        self.code = code


class BusPayloadError(BusError):
    """A 2xx answer whose body is not the expected type."""


class _Data(msgspec.Struct, Generic[T]):
    data: T


# Built once per type: a reused decoder is what makes msgspec fast.
_decoders: dict[Any, msgspec.json.Decoder[_Data[Any]]] = {}


def _decoder(type_: Any) -> msgspec.json.Decoder[_Data[Any]]:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(_Data[type_])
    return decoder


def decode_answer(service: str, status: int, body: bytes, type_: type[T]) -> T:
    """The `data` of a 2xx answer as `type_`; raises BusCallError or BusPayloadError."""
    if not 200 <= status < 300:
        try:
            error = error_envelope_decoder.decode(body).error
            code, message = error.code, error.message
        except (msgspec.DecodeError, msgspec.ValidationError):
            code, message = "unknown", "no error envelope"
        raise BusCallError(service, status, code, message)
    if type_ is NO_CONTENT and not body:
        return None  # type: ignore[return-value]
    try:
        data: T = _decoder(type_).decode(body).data
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BusPayloadError(service, status, f"not a {getattr(type_, '__name__', type_)}: {exc}") from None
    return data
