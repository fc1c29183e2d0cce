"""OpenAPI description of the rooms' endpoints (`rooms_routes.py`), added to persona_svc's."""

from __future__ import annotations

from chassis.openapi import OpenAPI
from proto.personas import ReportCreate
from proto.rooms import (
    Invite,
    InviteCreate,
    JoinRequest,
    ReplyStop,
    Room,
    RoomCreate,
    RoomDetail,
    RoomMessage,
    RoomMessageCreate,
    RoomMessagesQuery,
    RoomPatch,
    RoomReportState,
    RoomTurn,
)

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


def room_links(pointer: str) -> dict[str, dict[str, str]]:
    return {op: {"room_id": f"$response.body#{pointer}"} for op in ROOM_OPS}


def describe(spec: OpenAPI) -> OpenAPI:
    t = ("rooms",)
    spec.add(
        "get",
        "/rooms",
        "The rooms you are a member of, latest activity first",
        response=list[Room],
        auth=True,
        tags=t,
    )
    spec.add(
        "post",
        "/rooms",
        "Create a room with 1 to 4 personas you may chat with; you are its owner",
        body=RoomCreate,
        response=RoomDetail,
        status=201,
        auth=True,
        errors=(422,),
        tags=t,
        links=room_links("/data/room/id"),
        description="Follow `channel:<room id>` on `GET /events` for its live events (docs/rooms.md).",
    )
    spec.add(
        "post",
        "/rooms/join",
        "Join a room with an invite code",
        body=JoinRequest,
        response=RoomDetail,
        auth=True,
        errors=(403, 404, 422),
        tags=t,
        links=room_links("/data/room/id"),
        description="Refused (403) when the invite expired or is used up, or when the owner removed "
        "you after the invite was made; an unknown code is 404.",
    )
    spec.add(
        "get",
        R,
        "A room: its members, personas and the replies queued",
        response=RoomDetail,
        auth=True,
        errors=(403, 404),
        tags=t,
    )
    spec.add(
        "patch",
        R,
        "Rename a room or change its turn policy (owner)",
        body=RoomPatch,
        response=RoomDetail,
        auth=True,
        errors=(403, 404, 422),
        tags=t,
    )
    spec.add("delete", R, "Delete a room (owner)", status=204, auth=True, errors=(403, 404), tags=t)
    spec.add(
        "post",
        f"{R}/invites",
        "An invite code and link (owner)",
        body=InviteCreate,
        response=Invite,
        status=201,
        auth=True,
        errors=(403, 404, 422),
        tags=t,
    )
    spec.add(
        "delete",
        f"{R}/members/{{user_id}}",
        "Remove a member (owner), or leave (your own user id)",
        status=204,
        auth=True,
        errors=(403, 404, 409),
        tags=t,
        description="A removed member's open streams stop carrying the room at once; invites made "
        "before the removal no longer admit them.",
    )
    spec.add(
        "get",
        f"{R}/messages",
        "The room's messages, newest first (keyset cursor)",
        query=RoomMessagesQuery,
        response=list[RoomMessage],
        auth=True,
        errors=(403, 404, 422),
        tags=t,
    )
    spec.add(
        "post",
        f"{R}/messages",
        "Post a message; a persona named (persona_id, @Name, or the turn policy) replies in turn",
        body=RoomMessageCreate,
        response=RoomTurn,
        status=202,
        auth=True,
        errors=(403, 404, 422, 429, 503),
        tags=t,
        links={
            f"POST {R}/replies/{{job_id}}/stop": {
                "room_id": "$request.path.room_id",
                "job_id": "$response.body#/data/job_id",
            }
        },
        description="Replies are written one at a time per room, in order, and stream on "
        "`channel:<room id>` as `ai_chat_started` / `ai_chat_chunk` / `ai_chat_done`.",
    )
    spec.add(
        "delete",
        f"{R}/messages/{{message_id}}",
        "Delete a message (the owner: any; a member: their own)",
        status=204,
        auth=True,
        errors=(403, 404),
        tags=t,
    )
    spec.add(
        "post",
        f"{R}/messages/{{message_id}}/report",
        "Report a message; enough reports hide it",
        body=ReportCreate,
        response=RoomReportState,
        status=201,
        also=(200,),
        auth=True,
        errors=(403, 404, 422),
        tags=t,
    )
    spec.add(
        "post",
        f"{R}/typing",
        "Say you are typing (sent to members as `room_typing`, at most every 3 s)",
        status=204,
        auth=True,
        errors=(403, 404),
        tags=t,
    )
    spec.add(
        "post",
        f"{R}/replies/{{job_id}}/stop",
        "Stop a reply (the member who asked, or the owner)",
        response=ReplyStop,
        status=202,
        auth=True,
        errors=(403, 404, 409),
        tags=t,
    )
    return spec
