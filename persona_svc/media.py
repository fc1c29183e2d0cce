"""Avatars are media_svc's: an imported card's image is uploaded there, and a card export
reads the avatar's original bytes back, both over the bus with the caller's identity."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec

from chassis.bridge import BusClient
from chassis.context import new_request_id, request_id_var
from chassis.errors import HTTPError, ServiceUnavailable, UnprocessableEntity
from proto.bridge import BridgeRequest
from proto.identity import Identity

MEDIA = "media"
CHUNK = 64 * 1024


class Media:
    def __init__(self, bus: BusClient) -> None:
        self.bus = bus

    async def upload(self, identity: Identity, data: bytes, filename: str, content_type: str) -> str:
        """Upload an image as the caller (multipart `file`, public); returns its media id."""
        boundary = f"persona-{uuid.uuid4().hex}"
        # Public: whoever may read the persona may download its card, avatar included.
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="visibility"\r\n\r\npublic\r\n'
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def body() -> AsyncIterator[bytes]:
            yield head
            for i in range(0, len(data), CHUNK):
                yield data[i : i + CHUNK]
            yield tail

        request = BridgeRequest(
            method="POST",
            path="/media/uploads",
            headers=[("content-type", f"multipart/form-data; boundary={boundary}")],
            identity=identity,
            request_id=request_id_var.get() or new_request_id(),
        )
        reply = await self.bus.send(MEDIA, request, body())
        await reply.read()
        if reply.status == 422 or reply.status == 415 or reply.status == 413:
            raise UnprocessableEntity("the card's image was refused as an avatar", field="card")
        if reply.status not in (200, 201, 202):
            raise ServiceUnavailable(f"could not store the avatar (media answered {reply.status})")
        try:
            data_ = reply.json()["data"]
            media_id = data_.get("media_id") or data_.get("id")
        except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
            media_id = None
        if not isinstance(media_id, str):
            raise ServiceUnavailable("media answered an upload without a media id")
        return media_id

    async def content(self, identity: Identity, media_id: str) -> bytes | None:
        """The original bytes of `media_id`; None when media_svc does not have it."""
        try:
            reply = await self.bus.call(MEDIA, "GET", f"/media/{media_id}/content", identity=identity)
        except HTTPError:
            raise ServiceUnavailable("the avatar cannot be read right now; retry shortly") from None
        if reply.status in (403, 404, 410):
            return None
        if reply.status == 409:
            raise ServiceUnavailable(
                "the avatar is still being processed; retry in a few seconds", headers={"retry-after": "2"}
            )
        if reply.status != 200:
            raise ServiceUnavailable(f"could not read the avatar (media answered {reply.status})")
        return await reply.read()
