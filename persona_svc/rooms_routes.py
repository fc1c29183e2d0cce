"""The rooms' HTTP routes (docs/rooms.md), each handler declaring what the OpenAPI document
says of it."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chassis.auth import require_admin, require_user
from chassis.binding import bind, bind_query
from chassis.openapi import Doc
from chassis.responses import accepted, created, no_content, ok
from chassis.routing import route
from persona_svc.rooms import RoomService
from persona_svc.spec import links_to
from proto.personas import ReportCreate
from proto.rooms import (
    Invite,
    InviteCreate,
    JoinRequest,
    ReplyStop,
    ReportedRoomMessage,
    Room,
    RoomCreate,
    RoomDetail,
    RoomMessage,
    RoomMessageCreate,
    RoomMessagesQuery,
    RoomModerationQuery,
    RoomPatch,
    RoomReportState,
    RoomTurn,
)

ROOMS = ("rooms",)
R = "/rooms/{room_id}"
ROOM_OPS = (
    f"GET {R}",
    f"PATCH {R}",
    f"DELETE {R}",
    f"POST {R}/invites",
    f"GET {R}/messages",
    f"POST {R}/messages",
    f"POST {R}/typing",
)

# Links to a room's operations, its id at the pointer given.
room_links = functools.partial(links_to, ROOM_OPS, "room_id")


def rooms(request: Request) -> RoomService:
    svc: RoomService = request.state.rooms
    return svc


def path(request: Request, name: str = "room_id") -> str:
    value: str = request.path_params[name]
    return value


@Doc(
    "Create a room with 1 to 4 personas you may chat with; you are its owner",
    body=RoomCreate,
    response=RoomDetail,
    status=201,
    errors=(422,),
    tags=ROOMS,
    links=room_links("/data/room/id"),
)
async def create_room(request: Request) -> Response:
    """Follow `channel:<room id>` on `GET /events` for its live events (docs/rooms.md)."""
    return created(await rooms(request).create(require_user(request), await bind(request, RoomCreate)))


@Doc("The rooms you are a member of, latest activity first", response=list[Room], tags=ROOMS)
async def list_rooms(request: Request) -> object:
    return await rooms(request).listing(require_user(request))


@Doc(
    "A room: its members, personas and the replies queued", response=RoomDetail, errors=(403, 404), tags=ROOMS
)
async def get_room(request: Request) -> object:
    return await rooms(request).detail(path(request), require_user(request))


@Doc(
    "Rename a room or change its turn policy (owner)",
    body=RoomPatch,
    response=RoomDetail,
    errors=(403, 404, 422),
    tags=ROOMS,
)
async def update_room(request: Request) -> object:
    patch = await bind(request, RoomPatch)
    return await rooms(request).update(require_user(request), path(request), patch)


@Doc("Delete a room (owner)", status=204, errors=(403, 404), tags=ROOMS)
async def delete_room(request: Request) -> Response:
    await rooms(request).delete(require_user(request), path(request))
    return no_content()


@Doc(
    "An invite code and link (owner)",
    body=InviteCreate,
    response=Invite,
    status=201,
    errors=(403, 404, 422),
    tags=ROOMS,
)
async def create_invite(request: Request) -> Response:
    body = await bind(request, InviteCreate)
    return created(await rooms(request).invite(require_user(request), path(request), body))


@Doc(
    "Join a room with an invite code",
    body=JoinRequest,
    response=RoomDetail,
    errors=(403, 404, 422),
    tags=ROOMS,
    links=room_links("/data/room/id"),
)
async def join_room(request: Request) -> object:
    """Refused (403) when the invite expired or is used up, or when the owner removed you after
    the invite was made; an unknown code is 404."""
    body = await bind(request, JoinRequest)
    return await rooms(request).join(require_user(request), body.code)


@Doc("Remove a member (owner), or leave (your own user id)", status=204, errors=(403, 404, 409), tags=ROOMS)
async def remove_member(request: Request) -> Response:
    """A removed member's open streams stop carrying the room at once; invites made before the
    removal no longer admit them."""
    await rooms(request).remove(require_user(request), path(request), path(request, "user_id"))
    return no_content()


@Doc(
    "Post a message; a persona named (persona_id, @Name, or the turn policy) replies in turn",
    body=RoomMessageCreate,
    response=RoomTurn,
    status=202,
    errors=(403, 404, 422, 429, 503),
    tags=ROOMS,
    links={
        f"POST {R}/replies/{{job_id}}/stop": {
            "room_id": "$request.path.room_id",
            "job_id": "$response.body#/data/job_id",
        }
    },
)
async def post_message(request: Request) -> Response:
    """Replies are written one at a time per room, in order, and stream on `channel:<room id>` as
    `ai_chat_started` / `ai_chat_chunk` / `ai_chat_done`."""
    body = await bind(request, RoomMessageCreate)
    return accepted(await rooms(request).post(require_user(request), path(request), body))


@Doc(
    "The room's messages, newest first (keyset cursor)",
    query=RoomMessagesQuery,
    response=list[RoomMessage],
    errors=(403, 404, 422),
    tags=ROOMS,
)
async def list_messages(request: Request) -> Response:
    query = bind_query(request, RoomMessagesQuery)
    items, cursor = await rooms(request).messages(require_user(request), path(request), query)
    return ok(items, next_cursor=cursor)


@Doc("Delete a message (the owner: any; a member: their own)", status=204, errors=(403, 404), tags=ROOMS)
async def delete_message(request: Request) -> Response:
    await rooms(request).delete_message(require_user(request), path(request), path(request, "message_id"))
    return no_content()


@Doc(
    "Report a message; enough reports hide it",
    body=ReportCreate,
    response=RoomReportState,
    status=201,
    also=(200,),
    errors=(403, 404, 422),
    tags=ROOMS,
)
async def report_message(request: Request) -> Response:
    body = await bind(request, ReportCreate)
    identity = require_user(request)
    new, state = await rooms(request).report(identity, path(request), path(request, "message_id"), body)
    return created(state) if new else ok(state)


@Doc(
    "Say you are typing (members get `room_typing`, at most every 3 s)",
    status=204,
    errors=(403, 404),
    tags=ROOMS,
)
async def typing(request: Request) -> Response:
    await rooms(request).typing(require_user(request), path(request))
    return no_content()


@Doc(
    "Stop a reply (the member who asked, or the owner)",
    response=ReplyStop,
    status=202,
    errors=(403, 404, 409),
    tags=ROOMS,
)
async def stop_reply(request: Request) -> Response:
    return accepted(await rooms(request).stop(require_user(request), path(request), path(request, "job_id")))


@Doc(
    "Reported room messages, latest report first (admins)",
    query=RoomModerationQuery,
    response=list[ReportedRoomMessage],
    errors=(403, 422),
    tags=ROOMS,
)
async def moderation_queue(request: Request) -> object:
    require_admin(request)
    return await rooms(request).moderation_queue(bind_query(request, RoomModerationQuery).limit)


@Doc(
    "Show a reported message again, closing its reports (admins)",
    response=RoomMessage,
    errors=(403, 404),
    tags=ROOMS,
)
async def restore_message(request: Request) -> object:
    require_admin(request)
    return await rooms(request).review(path(request, "message_id"), "restore")


@Doc("Delete a reported message (admins)", response=RoomMessage, errors=(403, 404), tags=ROOMS)
async def remove_message(request: Request) -> object:
    require_admin(request)
    return await rooms(request).review(path(request, "message_id"), "remove")


async def channel_access(request: Request) -> object:
    """Asked by the gateway before a stream follows `channel:<id>`; internal (not documented, so
    the gateway does not route it to clients)."""
    return await rooms(request).channel_access(path(request, "channel_id"), require_user(request))


def routes() -> list[BaseRoute]:
    return [
        route("/rooms", list_rooms, auth=True),
        route("/rooms", create_room, methods=["POST"], auth=True),
        route("/rooms/join", join_room, methods=["POST"], auth=True),
        route("/rooms/reports", moderation_queue, auth=True),
        route("/rooms/reports/{message_id}/restore", restore_message, methods=["POST"], auth=True),
        route("/rooms/reports/{message_id}/remove", remove_message, methods=["POST"], auth=True),
        route(R, get_room, auth=True),
        route(R, update_room, methods=["PATCH"], auth=True),
        route(R, delete_room, methods=["DELETE"], auth=True),
        route(f"{R}/invites", create_invite, methods=["POST"], auth=True),
        route(f"{R}/members/{{user_id}}", remove_member, methods=["DELETE"], auth=True),
        route(f"{R}/messages", list_messages, auth=True),
        route(f"{R}/messages", post_message, methods=["POST"], auth=True),
        route(f"{R}/messages/{{message_id}}", delete_message, methods=["DELETE"], auth=True),
        route(f"{R}/messages/{{message_id}}/report", report_message, methods=["POST"], auth=True),
        route(f"{R}/typing", typing, methods=["POST"], auth=True),
        route(f"{R}/replies/{{job_id}}/stop", stop_reply, methods=["POST"], auth=True),
        route("/channels/{channel_id}", channel_access, auth=True, include_in_schema=False),
    ]
