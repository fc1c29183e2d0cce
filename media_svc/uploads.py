"""A multipart upload streamed into storage as it arrives: the type is sniffed from the file's
first bytes, the size limit for that type is enforced as the bytes come, and nothing is ever
held whole in memory. Nothing is visible in storage until the caller commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from chassis.errors import BadRequest, PayloadTooLarge, UnprocessableEntity, UnsupportedMediaType
from chassis.settings import Settings
from chassis.storage import Storage, Writer
from media_svc.sniff import ALLOWED, SNIFF_BYTES, Sniffed, sniff

FILE_FIELD = "file"
TEXT_FIELDS = ("persona_id", "visibility")
MAX_TEXT_FIELD = 256
# Bytes of multipart framing (boundaries, part headers, text fields) allowed beside the file when
# a declared Content-Length is checked against the limit before reading.
FRAMING_SLACK = 64 * 1024


@dataclass
class PendingUpload:
    """A stored but not yet committed upload: `commit()` makes it visible, `abort()` drops it."""

    writer: Writer
    key: str
    sniffed: Sniffed
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    async def commit(self) -> int:
        return await self.writer.commit()

    async def abort(self) -> None:
        await self.writer.abort()


def limit_for(sniffed: Sniffed, settings: Settings) -> int:
    return settings.max_image_bytes if sniffed.kind == "image" else settings.max_video_bytes


class _Events:
    """Collects the parser's callbacks (which are synchronous) for the async loop to act on."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self._name = b""
        self._value = b""
        self._disposition = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._disposition = self._value
        self._name = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self.items.append(("begin", options.get(b"name", b"")))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.items.append(("data", data[start:end]))

    def _part_end(self) -> None:
        self.items.append(("end", b""))


async def receive_upload(
    headers: dict[str, str],
    body: AsyncIterator[bytes],
    storage: Storage,
    settings: Settings,
    key_for: Callable[[Sniffed], str],
) -> PendingUpload:
    """Parse `multipart/form-data` from `body`, streaming the `file` part into storage."""
    mime, params = parse_options_header(headers.get("content-type", ""))
    if mime != b"multipart/form-data":
        raise UnsupportedMediaType(
            "upload the file as multipart/form-data in the field `file`", details={"field": "file"}
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart body without a boundary")
    declared = headers.get("content-length", "")
    events = _Events()
    parser = MultipartParser(boundary, events.callbacks())  # type: ignore[arg-type]
    fields: dict[str, str] = {}
    current: str | None = None
    text = bytearray()
    head = bytearray()
    pending: PendingUpload | None = None
    limit = 0
    seen_file = False

    async def start_file(first: bytes) -> PendingUpload:
        found = sniff(first)
        if found is None:
            raise UnsupportedMediaType(
                "the file is not a supported image or video (decided from its content, not its name)",
                details={"field": "file", "allowed": list(ALLOWED)},
            )
        nonlocal limit
        limit = limit_for(found, settings)
        if declared.isdigit() and int(declared) > limit + FRAMING_SLACK:
            raise _too_large(found, limit)
        key = key_for(found)
        return PendingUpload(storage.writer(key, found.content_type), key, found, 0)

    try:
        async for chunk in body:
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise BadRequest(f"malformed multipart body: {exc}") from None
            for kind, data in events.items:
                if kind == "begin":
                    current = data.decode("utf-8", "replace")
                    if current == FILE_FIELD:
                        if seen_file:
                            raise UnprocessableEntity("send one file per upload", field="file")
                        seen_file = True
                    text.clear()
                elif kind == "data" and current == FILE_FIELD:
                    if pending is None:
                        head += data
                        if len(head) >= SNIFF_BYTES:
                            pending = await start_file(bytes(head))
                            await _write(pending, bytes(head), limit)
                            head.clear()
                    else:
                        await _write(pending, data, limit)
                elif kind == "data":
                    text += data
                    if len(text) > MAX_TEXT_FIELD:
                        raise UnprocessableEntity(f"field `{current}` is too long", field=current)
                elif kind == "end":
                    if current == FILE_FIELD and pending is None and head:
                        pending = await start_file(bytes(head))
                        await _write(pending, bytes(head), limit)
                        head.clear()
                    elif current in TEXT_FIELDS:
                        fields[current] = text.decode("utf-8", "replace").strip()
                    current = None
            events.items.clear()
        try:
            parser.finalize()
        except FormParserError as exc:
            raise BadRequest(f"malformed multipart body: {exc}") from None
        if pending is None:
            if seen_file:
                raise UnprocessableEntity("the file is empty", field="file")
            raise UnprocessableEntity("no file: send it in the multipart field `file`", field="file")
        pending.fields = fields
        return pending
    except BaseException:
        if pending is not None:
            await pending.abort()
        raise


async def _write(pending: PendingUpload, data: bytes, limit: int) -> None:
    pending.size += len(data)
    if pending.size > limit:
        raise _too_large(pending.sniffed, limit)
    await pending.writer.write(data)


def _too_large(sniffed: Sniffed, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{sniffed.kind}s can be at most {limit} bytes ({limit / 1024 / 1024:.0f} MiB)",
        details={"field": "file", "limit": limit, "kind": sniffed.kind},
    )
