"""`bind()`: decode and validate a request body or query into a proto type, or raise 4xx."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from chassis.errors import PayloadTooLarge, UnprocessableEntity, UnsupportedMediaType

T = TypeVar("T")

MAX_JSON_BODY = 1024 * 1024
# How deep a JSON body may nest, counted from its top level: free-form fields (a persona's
# `extensions`, `character_book`) would otherwise take any depth, and 1,000 levels overflow
# the decoder's recursion (a 500).
MAX_JSON_DEPTH = 32
# A string (then, when followed by a colon, an object's key) or a bracket: all a depth scan needs.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?|[\[\]{}]')
_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(type_: type[T]) -> msgspec.json.Decoder[T]:
    dec = _decoders.get(type_)
    if dec is None:
        dec = _decoders[type_] = msgspec.json.Decoder(type_)
    return dec


def field_of(exc: msgspec.ValidationError) -> tuple[str, str]:
    """Split msgspec's "Expected `int`, got `str` - at `$.age`" into (message, "age")."""
    text = str(exc)
    m = _PATH.search(text)
    if not m:
        # Missing fields are reported as "Object missing required field `email`".
        named = re.search(r"missing required field `([^`]+)`", text) or _UNKNOWN.search(text)
        return text, named.group(1) if named else ""
    path = m.group("path").lstrip(".")
    message = text[: m.start()]
    # A nested object's missing or unknown field: name the field itself (`user.name`).
    named = re.search(r"missing required field `([^`]+)`", message) or _UNKNOWN.search(message)
    if named:
        path = f"{path}.{named.group(1)}".lstrip(".")
    return message, path


def validation_error(exc: msgspec.ValidationError, prefix: str = "") -> UnprocessableEntity:
    message, path = field_of(exc)
    field = f"{prefix}.{path}".strip(".") if path else prefix
    where = f" ({field})" if field else ""
    return UnprocessableEntity(f"{message}{where}", field=field or None)


def too_deep(body: bytes | bytearray, limit: int = MAX_JSON_DEPTH) -> list[str] | None:
    """The keys leading to the first value of `body` nested deeper than `limit` levels
    (`[]` when it is the top level's), or None when the body stays within the limit."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return None
    keys: list[str] = []
    key = ""
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            keys.append(key)
            key = ""
            if len(keys) > limit:
                return [k for k in keys[1 : limit + 1] if k]
        elif token in (b"}", b"]"):
            key = ""
            if keys:
                keys.pop()
        elif match.group(1):
            key = token[: token.rindex(b'"')].strip(b'"').decode("utf-8", "replace")
    return None


def depth_error(path: list[str], prefix: str = "", keep: int = 1) -> UnprocessableEntity:
    """The 422 for a body `too_deep` refused, naming its first `keep` keys."""
    field = ".".join([prefix, *path[:keep]] if prefix else path[:keep]) or prefix or "body"
    return UnprocessableEntity(
        f"`{field}` is nested deeper than {MAX_JSON_DEPTH} levels of JSON", field=field
    )


async def bind(request: Request, type_: type[T], *, max_size: int = MAX_JSON_BODY) -> T:
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        raise UnsupportedMediaType("request body must be JSON (content-type: application/json)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_size:
            raise PayloadTooLarge(f"request body is over {max_size} bytes")
    if not body:
        body = bytearray(b"{}")
    if (path := too_deep(body)) is not None:
        raise depth_error(path)
    try:
        return _decoder(type_).decode(body)
    except msgspec.ValidationError as exc:
        raise validation_error(exc) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise UnprocessableEntity(f"request body is not valid JSON: {exc}", field="body") from None


def bind_query(request: Request, type_: type[T]) -> T:
    """Convert query parameters (strings) into `type_`, coercing numbers and booleans."""
    try:
        return msgspec.convert(dict(request.query_params), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, "query") from None
