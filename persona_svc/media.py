"""Avatars are media_svc's, reached over the bus: an avatar is checked (the caller's own image)
and made public when the persona is shared, a page of personas resolves its avatars' URLs in one
lookup, an imported card's image is uploaded, and a card export reads the avatar's bytes back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping

import structlog

from chassis.bridge import BusClient
from chassis.calls import NO_CONTENT, BusCallError, BusError, decode_answer
from chassis.context import new_request_id, request_id_var
from chassis.errors import HTTPError, ServiceUnavailable, UnprocessableEntity
from proto.bridge import BridgeRequest
from proto.identity import Identity
from proto.media import MediaAccepted, MediaLookup, MediaOut, VisibilityUpdate
from proto.personas import AvatarUrls

log = structlog.get_logger("persona_svc.media")
MEDIA = "media"
CHUNK = 64 * 1024
# media_svc answers a lookup of 100 ids in milliseconds; past this a page goes out without avatars.
LOOKUP_TIMEOUT = 3.0
LOOKUP_MAX = 100


def avatar_urls(item: MediaOut | None) -> AvatarUrls | None:
    """The URLs of a ready image; None while processing, failed, or not an image."""
    if item is None or item.status != "ready" or item.kind != "image":
        return None
    urls = item.urls
    thumbnail = urls.thumbnail or urls.optimized or urls.original
    optimized = urls.optimized or urls.original or urls.thumbnail
    if thumbnail is None or optimized is None:
        return None
    return AvatarUrls(thumbnail=thumbnail, optimized=optimized)


def thumbnail(media: Mapping[str, MediaOut], media_id: str | None) -> str | None:
    """The thumbnail URL of `media_id` among the looked-up `media`, when it is a ready image."""
    urls = avatar_urls(media.get(media_id)) if media_id else None
    return urls.thumbnail if urls else None


class Media:
    def __init__(self, bus: BusClient, quick_bus: BusClient | None = None) -> None:
        self.bus = bus
        # The same connection without the no-responders retry: a page never waits for avatars.
        self.quick_bus = quick_bus or bus

    async def item(self, identity: Identity, media_id: str) -> MediaOut | None:
        """The item as `identity` sees it; None when it does not exist or is not theirs to see."""
        try:
            return await self.bus.fetch(MEDIA, "GET", f"/media/{media_id}", MediaOut, identity=identity)
        except HTTPError:
            raise ServiceUnavailable("media cannot be checked right now; retry shortly") from None
        except BusCallError as exc:
            if exc.status in (404, 422):
                return None
            raise ServiceUnavailable(f"could not check the avatar (media answered {exc.status})") from None
        except BusError:
            raise ServiceUnavailable("media answered with an unexpected item") from None

    async def publish(self, identity: Identity, media_id: str) -> None:
        """Make the owner's item public (`identity` is its owner)."""
        try:
            await self.bus.fetch(
                MEDIA,
                "PATCH",
                f"/media/{media_id}",
                MediaOut,
                json=VisibilityUpdate(visibility="public"),
                identity=identity,
            )
        except HTTPError:
            raise ServiceUnavailable("the avatar cannot be shared right now; retry shortly") from None
        except BusCallError as exc:
            if exc.status in (403, 404):
                raise UnprocessableEntity(
                    "avatar_media_id is not one of your media items", field="avatar_media_id"
                ) from None
            raise ServiceUnavailable(f"could not share the avatar (media answered {exc.status})") from None
        except BusError:
            raise ServiceUnavailable("media answered a share with an unexpected item") from None

    async def lookup(self, identity: Identity | None, media_ids: Iterable[str]) -> dict[str, MediaOut]:
        """The items `identity` may see among `media_ids`, one call per 100 ids; best effort: when
        media_svc is slow or away the answer is empty (the personas show no avatar)."""
        wanted = list(dict.fromkeys(media_ids))
        found: dict[str, MediaOut] = {}
        for start in range(0, len(wanted), LOOKUP_MAX):
            ids = wanted[start : start + LOOKUP_MAX]
            try:
                items = await self.quick_bus.fetch(
                    MEDIA,
                    "POST",
                    "/media/lookup",
                    list[MediaOut],
                    json=MediaLookup(ids=ids),
                    identity=identity,
                    timeout=LOOKUP_TIMEOUT,
                )
            except (HTTPError, BusError) as exc:
                log.info("avatars unavailable", error=repr(exc))
                return found
            found.update((item.id, item) for item in items)
        return found

    async def upload(
        self, identity: Identity, data: bytes, filename: str, content_type: str, *, public: bool
    ) -> str:
        """Upload an image as the caller (multipart `file`); returns its media id."""
        boundary = f"persona-{uuid.uuid4().hex}"
        # Public for a shared persona: whoever may read it sees its avatar and may download its card.
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="visibility"\r\n\r\n'
            f"{'public' if public else 'private'}\r\n"
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
        try:
            return decode_answer(MEDIA, reply.status, await reply.read(), MediaAccepted).media_id
        except BusCallError as exc:
            if exc.status in (413, 415, 422):
                raise UnprocessableEntity("the card's image was refused as an avatar", field="card") from None
            raise ServiceUnavailable(f"could not store the avatar (media answered {exc.status})") from None
        except BusError:
            raise ServiceUnavailable("media answered an upload without a media id") from None

    async def delete(self, identity: Identity, media_id: str) -> None:
        """Delete the owner's item; best effort (an item left behind only takes space)."""
        try:
            await self.bus.fetch(MEDIA, "DELETE", f"/media/{media_id}", NO_CONTENT, identity=identity)
        except BusCallError as exc:
            if exc.status != 404:
                log.info("media item not deleted", media_id=media_id, status=exc.status)
        except (HTTPError, BusError) as exc:
            log.info("media item not deleted", media_id=media_id, error=repr(exc))

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
