"""The rooms' HTTP routes (docs/rooms.md); their OpenAPI description is `rooms_spec.py`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chassis.auth import require_user
from chassis.binding import bind, bind_query
from chassis.responses import accepted, created, no_content, ok
from chassis.routing import route
from persona_svc.rooms import RoomService
from proto.personas import ReportCreate
from proto.rooms import InviteCreate, JoinRequest, RoomCreate, RoomMessageCreate, RoomMessagesQuery, RoomPatch

R = "/rooms/{room_id}"


def rooms(request: Request) -> RoomService:
    svc: RoomService = request.state.rooms
    return svc


def room_id(request: Request) -> str:
    value: str = request.path_params["room_id"]
    return value


async def create_room(request: Request) -> Response:
    return created(await rooms(request).create(require_user(request), await bind(request, RoomCreate)))


async def list_rooms(request: Request) -> object:
    return await rooms(request).listing(require_user(request))


async def get_room(request: Request) -> object:
    return await rooms(request).detail(room_id(request), require_user(request))


async def update_room(request: Request) -> object:
    patch = await bind(request, RoomPatch)
    return await rooms(request).update(require_user(request), room_id(request), patch)


async def delete_room(request: Request) -> Response:
    await rooms(request).delete(require_user(request), room_id(request))
    return no_content()


async def create_invite(request: Request) -> Response:
    body = await bind(request, InviteCreate)
    return created(await rooms(request).invite(require_user(request), room_id(request), body))


async def join_room(request: Request) -> object:
    body = await bind(request, JoinRequest)
    return await rooms(request).join(require_user(request), body.code)


async def remove_member(request: Request) -> Response:
    user_id: str = request.path_params["user_id"]
    await rooms(request).remove(require_user(request), room_id(request), user_id)
    return no_content()


async def post_message(request: Request) -> Response:
    body = await bind(request, RoomMessageCreate)
    return accepted(await rooms(request).post(require_user(request), room_id(request), body))


async def list_messages(request: Request) -> Response:
    query = bind_query(request, RoomMessagesQuery)
    items, cursor = await rooms(request).messages(require_user(request), room_id(request), query)
    return ok(items, next_cursor=cursor)


async def delete_message(request: Request) -> Response:
    message_id: str = request.path_params["message_id"]
    await rooms(request).delete_message(require_user(request), room_id(request), message_id)
    return no_content()


async def report_message(request: Request) -> Response:
    body = await bind(request, ReportCreate)
    message_id: str = request.path_params["message_id"]
    new, state = await rooms(request).report(require_user(request), room_id(request), message_id, body)
    return created(state) if new else ok(state)


async def typing(request: Request) -> Response:
    await rooms(request).typing(require_user(request), room_id(request))
    return no_content()


async def stop_reply(request: Request) -> Response:
    job_id: str = request.path_params["job_id"]
    return accepted(await rooms(request).stop(require_user(request), room_id(request), job_id))


async def channel_access(request: Request) -> object:
    """Asked by the gateway before a stream follows `channel:<id>` (not routed to clients)."""
    channel_id: str = request.path_params["channel_id"]
    return await rooms(request).channel_access(channel_id, require_user(request))


def routes() -> list[BaseRoute]:
    return [
        route("/rooms", list_rooms, auth=True),
        route("/rooms", create_room, methods=["POST"], auth=True),
        route("/rooms/join", join_room, methods=["POST"], auth=True),
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
        route("/channels/{channel_id}", channel_access, auth=True),
    ]
