"""persona_svc: routes, served over the bus as `http.persona`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chassis.app import ServiceContext, create_service_app
from chassis.auth import current_identity, require_admin, require_user
from chassis.binding import bind, bind_query
from chassis.bridge import BusClient
from chassis.errors import UnprocessableEntity
from chassis.events import EventPublisher
from chassis.openapi import Doc, OpenAPI
from chassis.responses import JSONResponse, accepted, created, no_content, ok
from chassis.routing import route
from chassis.settings import Settings
from chassis.subscribers import consuming
from persona_svc import results, rooms_routes
from persona_svc.chat import ChatService
from persona_svc.media import Media
from persona_svc.profiles import Profiles
from persona_svc.rooms import RoomService
from persona_svc.service import PersonaService
from persona_svc.spec import (
    CARDS,
    COMMUNITY,
    CONVERSATIONS,
    DRAFTS,
    MODERATION,
    PERSONAS,
    conversation_links,
    persona_links,
    turn_links,
)
from persona_svc.starters.seed import seeding
from persona_svc.store import Store
from persona_svc.store_memory import MemoryStore
from persona_svc.store_pg import PgStore
from persona_svc.store_pg_rooms import PgRoomStore
from persona_svc.store_rooms_memory import MemoryRoomStore
from proto.cards import CharacterCard
from proto.conversations import (
    CancelAccepted,
    ChatTurn,
    Conversation,
    ConversationListQuery,
    ConversationPatch,
    ConversationStarted,
    Message,
    MessageCreate,
    MessageDeleteQuery,
    MessagePatch,
    UserPersona,
)
from proto.personas import (
    ContentSettings,
    ContentSettingsPatch,
    DraftView,
    FeedQuery,
    FollowState,
    ForkRequest,
    GenerateRequest,
    ImportQuery,
    JobAccepted,
    LikeState,
    ModerationQuery,
    PageQuery,
    Persona,
    PersonaCreate,
    PersonaListQuery,
    PersonaPatch,
    PersonaSummary,
    ReportCreate,
    ReportedPersona,
    ReportState,
    UserProfile,
)

SERVICE = "persona"
MIGRATIONS = Path(__file__).parent / "migrations"
# Multipart framing beside a card sent as a form's file.
CARD_FRAMING = 64 * 1024


def personas(request: Request) -> PersonaService:
    svc: PersonaService = request.state.personas
    return svc


def chats(request: Request) -> ChatService:
    svc: ChatService = request.state.chat
    return svc


def param(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    return value


# Personas


@Doc(
    "Browse public personas (new, top or trending; filter by tag, text or creator)",
    query=PersonaListQuery,
    response=list[PersonaSummary],
    errors=(403, 422),
    tags=PERSONAS,
    links={
        **persona_links("/data/0/id"),
        "GET /users/{user_id}": {"user_id": "$response.body#/data/0/owner_id"},
    },
)
async def list_personas(request: Request) -> Response:
    """Each item is a summary (what a card shows); `GET /personas/{persona_id}` has the whole persona.
    Keyset pagination: pass `meta.next_cursor` as `cursor` (a cursor from another list or
    ordering is a 422). `q` matches name, tagline and tags (case-insensitive substring). Listing
    your own `creator_id` shows your private and unlisted personas too. NSFW personas show only
    to callers whose content settings allow them (`PATCH /users/me/settings`), and always to
    their creator; `include_nsfw=false` hides them, `include_nsfw=true` without the setting is a
    403."""
    items, cursor = await personas(request).listing(
        current_identity(request), bind_query(request, PersonaListQuery)
    )
    return ok(items, next_cursor=cursor)


@Doc(
    "Create a persona",
    body=PersonaCreate,
    response=Persona,
    status=201,
    tags=PERSONAS,
    links=persona_links("/data/id"),
)
async def create_persona(request: Request) -> Response:
    return created(await personas(request).create(require_user(request), await bind(request, PersonaCreate)))


@Doc("Read a persona", response=Persona, errors=(404,), tags=PERSONAS)
async def get_persona(request: Request) -> object:
    return await personas(request).get(param(request, "persona_id"), current_identity(request))


@Doc(
    "Change a persona (owner only)",
    body=PersonaPatch,
    response=Persona,
    errors=(403, 404),
    tags=PERSONAS,
)
async def update_persona(request: Request) -> object:
    patch = await bind(request, PersonaPatch)
    return await personas(request).update(require_user(request), param(request, "persona_id"), patch)


@Doc("Delete a persona (owner only)", status=204, errors=(403, 404), tags=PERSONAS)
async def delete_persona(request: Request) -> Response:
    await personas(request).delete(require_user(request), param(request, "persona_id"))
    return no_content()


@Doc(
    "Copy a public (or your own) persona into your account",
    body=ForkRequest,
    response=Persona,
    status=201,
    errors=(403, 404),
    tags=PERSONAS,
    links=persona_links("/data/id"),
)
async def fork_persona(request: Request) -> Response:
    body = await bind(request, ForkRequest)
    return created(await personas(request).fork(require_user(request), param(request, "persona_id"), body))


@Doc("Like (idempotent)", response=LikeState, errors=(404,), tags=COMMUNITY)
async def like(request: Request) -> object:
    return await personas(request).like(require_user(request), param(request, "persona_id"), True)


@Doc("Unlike (idempotent)", response=LikeState, errors=(404,), tags=COMMUNITY)
async def unlike(request: Request) -> object:
    return await personas(request).like(require_user(request), param(request, "persona_id"), False)


@Doc(
    "Report a persona; reports from enough distinct users hide it until reviewed",
    body=ReportCreate,
    response=ReportState,
    status=201,
    also=(200,),
    errors=(404, 422),
    tags=COMMUNITY,
)
async def report(request: Request) -> Response:
    """201 for a new report; 200 when you had already reported it (nothing changes). Reporting your own
    persona is a 422."""
    body = await bind(request, ReportCreate)
    new, state = await personas(request).report(require_user(request), param(request, "persona_id"), body)
    return created(state) if new else ok(state)


@Doc(
    "Personas with open reports (admins)",
    query=ModerationQuery,
    response=list[ReportedPersona],
    errors=(403,),
    tags=MODERATION,
)
async def moderation_queue(request: Request) -> Response:
    identity = require_admin(request)
    items, cursor = await personas(request).moderation_queue(identity, bind_query(request, ModerationQuery))
    return ok(items, next_cursor=cursor)


@Doc(
    "Close the reports and list the persona again (admins)",
    response=Persona,
    errors=(403, 404),
    tags=MODERATION,
)
async def restore(request: Request) -> object:
    identity = require_admin(request)
    return await personas(request).review(identity, param(request, "persona_id"), "restore")


@Doc(
    "Close the reports and take the persona down (admins)",
    response=Persona,
    errors=(403, 404),
    tags=MODERATION,
)
async def remove(request: Request) -> object:
    identity = require_admin(request)
    return await personas(request).review(identity, param(request, "persona_id"), "remove")


# Drafts


@Doc(
    "Draft a persona from a one-line idea (AI); progress and result arrive as events",
    body=GenerateRequest,
    response=JobAccepted,
    status=202,
    errors=(503,),
    tags=DRAFTS,
    links={"GET /personas/drafts/{job_id}": {"job_id": "$response.body#/data/job_id"}},
)
async def generate(request: Request) -> Response:
    body = await bind(request, GenerateRequest)
    return accepted(await personas(request).generate(require_user(request), body))


@Doc("Read a draft (for a client that missed the events)", response=DraftView, errors=(404,), tags=DRAFTS)
async def get_draft(request: Request) -> object:
    return await personas(request).draft(require_user(request), param(request, "job_id"))


# Character cards


async def card_body(request: Request, max_bytes: int) -> bytes:
    """The card from a raw body (JSON or PNG) or from a multipart form's `file`/`card` field."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=10, max_part_size=max_bytes) as form:
            upload = form.get("file") or form.get("card")
            if not isinstance(upload, UploadFile):
                raise UnprocessableEntity("upload the card as the form field `file`", field="file")
            data = await upload.read(max_bytes + 1)
    else:
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > max_bytes:
                break
        data = bytes(buffer)
    if len(data) > max_bytes:
        raise UnprocessableEntity(f"card is over the {max_bytes}-byte limit", field="card")
    return data


@Doc(
    "Import a Character Card V1/V2/V3 (JSON, or PNG with a `chara`/`ccv3` chunk)",
    query=ImportQuery,
    response=Persona,
    status=201,
    errors=(422, 503),
    tags=CARDS,
)
async def import_card(request: Request) -> Response:
    """Body: the card JSON, the PNG (`image/png`), or a multipart form with the file as `file`. A PNG's
    image becomes the avatar. Malformed or oversized cards: 422, nothing created."""
    identity = require_user(request)
    query = bind_query(request, ImportQuery)
    svc = personas(request)
    body = await card_body(request, svc.settings.persona_card_max_bytes)
    return created(await svc.import_card(identity, body, query.visibility))


def _filename(name: str, ext: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9 _.-]+", "", name).strip() or "persona"
    return f'attachment; filename="{stem[:60]}.{ext}"'


@Doc(
    "Export as a V3 card (with the V2 fields)",
    response=CharacterCard,
    errors=(404,),
    # A file to save and import elsewhere (`content-disposition: attachment`): the bare card.
    envelope=False,
    tags=CARDS,
)
async def card_json(request: Request) -> Response:
    card = await personas(request).card_json(param(request, "persona_id"), current_identity(request))
    return JSONResponse(
        card, headers={"content-disposition": _filename(str(card.data.get("name", "")), "json")}
    )


@Doc(
    "Export as a PNG card (avatar with `chara` and `ccv3` chunks)",
    response_type="image/png",
    errors=(404, 503),
    tags=CARDS,
)
async def card_png(request: Request) -> Response:
    persona, data = await personas(request).card_png(param(request, "persona_id"), current_identity(request))
    return Response(
        data, media_type="image/png", headers={"content-disposition": _filename(persona.name, "png")}
    )


# Users and feed


@Doc(
    "Public profile with community counts (`me` for yourself; signed out, `me` is a 401)",
    response=UserProfile,
    errors=(401, 404, 503),
    tags=COMMUNITY,
)
async def profile(request: Request) -> object:
    identity = current_identity(request)
    user_id = param(request, "user_id")
    if user_id == "me":
        user_id = require_user(request).user_id
    return await personas(request).profile(user_id, identity)


@Doc("Follow a creator", response=FollowState, errors=(404, 422), tags=COMMUNITY)
async def follow(request: Request) -> object:
    return await personas(request).follow(require_user(request), param(request, "user_id"), True)


@Doc("Unfollow a creator (yourself: 422)", response=FollowState, errors=(422,), tags=COMMUNITY)
async def unfollow(request: Request) -> object:
    return await personas(request).follow(require_user(request), param(request, "user_id"), False)


@Doc(
    "Public personas of the creators you follow, newest first",
    query=FeedQuery,
    response=list[PersonaSummary],
    errors=(403, 422),
    tags=COMMUNITY,
)
async def feed(request: Request) -> Response:
    items, cursor = await personas(request).feed(require_user(request), bind_query(request, FeedQuery))
    return ok(items, next_cursor=cursor)


@Doc(
    "Your content settings (whether Explore, search and the feed show adult personas)",
    response=ContentSettings,
    tags=COMMUNITY,
)
async def get_content_settings(request: Request) -> object:
    return await personas(request).content_settings(require_user(request))


@Doc(
    "Change your content settings; turning adult content on needs `confirm_adult: true`",
    body=ContentSettingsPatch,
    response=ContentSettings,
    errors=(422,),
    tags=COMMUNITY,
)
async def patch_content_settings(request: Request) -> object:
    body = await bind(request, ContentSettingsPatch)
    return await personas(request).set_content_settings(require_user(request), body)


# Conversations


@Doc(
    "Start a conversation (the greeting is its first message)",
    response=ConversationStarted,
    status=201,
    errors=(404,),
    tags=CONVERSATIONS,
    links=conversation_links("/data/conversation/id"),
)
async def start_conversation(request: Request) -> Response:
    return created(await chats(request).start(require_user(request), param(request, "persona_id")))


@Doc(
    "Your conversations, latest activity first (with one persona: `persona_id`)",
    query=ConversationListQuery,
    response=list[Conversation],
    errors=(422,),
    tags=CONVERSATIONS,
    links=conversation_links("/data/0/id"),
)
async def list_conversations(request: Request) -> Response:
    query = bind_query(request, ConversationListQuery)
    items, cursor = await chats(request).listing(require_user(request), query)
    return ok(items, next_cursor=cursor)


@Doc(
    "Read a conversation (participants only; 404 for everyone else)",
    response=Conversation,
    errors=(404,),
    tags=CONVERSATIONS,
)
async def get_conversation(request: Request) -> object:
    return await chats(request).view(param(request, "conversation_id"), require_user(request))


@Doc(
    "Rename a conversation (`title`) or set its own user persona (`user_persona`); null clears",
    body=ConversationPatch,
    response=Conversation,
    errors=(404, 422),
    tags=CONVERSATIONS,
)
async def update_conversation(request: Request) -> object:
    patch = await bind(request, ConversationPatch)
    return await chats(request).update(require_user(request), param(request, "conversation_id"), patch)


@Doc("Delete a conversation", status=204, errors=(404,), tags=CONVERSATIONS)
async def delete_conversation(request: Request) -> Response:
    await chats(request).delete(require_user(request), param(request, "conversation_id"))
    return no_content()


@Doc("Messages, newest first", query=PageQuery, response=list[Message], errors=(404,), tags=CONVERSATIONS)
async def list_messages(request: Request) -> Response:
    identity = require_user(request)
    query = bind_query(request, PageQuery)
    items, cursor = await chats(request).messages(identity, param(request, "conversation_id"), query)
    return ok(items, next_cursor=cursor)


@Doc(
    "Send a message; the reply is written by a job (`ai_chat_*` events) and stored when done",
    body=MessageCreate,
    response=ChatTurn,
    status=202,
    errors=(404, 409, 503),
    tags=CONVERSATIONS,
    links=turn_links(),
)
async def send_message(request: Request) -> Response:
    body = await bind(request, MessageCreate)
    turn = await chats(request).send(require_user(request), param(request, "conversation_id"), body.content)
    return accepted(turn)


@Doc(
    "Write another reply for the latest message (kept as a swipe)",
    response=ChatTurn,
    status=202,
    errors=(404, 409, 503),
    tags=CONVERSATIONS,
    links=turn_links(),
)
async def regenerate(request: Request) -> Response:
    return accepted(await chats(request).regenerate(require_user(request), param(request, "conversation_id")))


@Doc(
    "The chat is open: the model may read its next reply's prompt while a message is typed "
    "(best effort; nothing to wait for, nothing changes)",
    status=204,
    errors=(404, 409),
    tags=CONVERSATIONS,
)
async def warm_up(request: Request) -> Response:
    await chats(request).warm_up(require_user(request), param(request, "conversation_id"))
    return no_content()


@Doc(
    "Edit a message or pick another swipe",
    body=MessagePatch,
    response=Message,
    errors=(404, 409),
    tags=CONVERSATIONS,
)
async def edit_message(request: Request) -> object:
    patch = await bind(request, MessagePatch)
    identity = require_user(request)
    return await chats(request).edit(
        identity, param(request, "conversation_id"), param(request, "message_id"), patch
    )


@Doc(
    "Delete a message (`with_reply=true`: a user's message with the reply that answered it)",
    query=MessageDeleteQuery,
    status=204,
    errors=(404, 409),
    tags=CONVERSATIONS,
)
async def delete_message(request: Request) -> Response:
    identity = require_user(request)
    query = bind_query(request, MessageDeleteQuery)
    await chats(request).delete_message(
        identity, param(request, "conversation_id"), param(request, "message_id"), query.with_reply
    )
    return no_content()


# Who the user plays


@Doc(
    "Who you play in chats (`{{user}}` and a description told to the model); null when unset",
    response=UserPersona | None,
    tags=CONVERSATIONS,
)
async def get_user_persona(request: Request) -> Response:
    return ok(await chats(request).user_persona(require_user(request)))


@Doc(
    "Set who you play in chats (a conversation may override it)",
    body=UserPersona,
    response=UserPersona,
    errors=(422,),
    tags=CONVERSATIONS,
)
async def put_user_persona(request: Request) -> Response:
    body = await bind(request, UserPersona)
    return ok(await chats(request).set_user_persona(require_user(request), body))


@Doc("Forget your user persona", status=204, tags=CONVERSATIONS)
async def delete_user_persona(request: Request) -> Response:
    await chats(request).set_user_persona(require_user(request), None)
    return no_content()


@Doc(
    "Stop a reply being written (its partial text is kept)",
    response=CancelAccepted,
    status=202,
    errors=(404, 409),
    tags=CONVERSATIONS,
)
async def cancel(request: Request) -> Response:
    identity = require_user(request)
    return accepted(
        await chats(request).cancel(identity, param(request, "conversation_id"), param(request, "job_id"))
    )


def routes(settings: Settings) -> list[BaseRoute]:
    card_limit = settings.persona_card_max_bytes + CARD_FRAMING
    p = "/personas/{persona_id}"
    c = "/conversations/{conversation_id}"
    return [
        route("/personas", list_personas),
        route("/personas", create_persona, methods=["POST"], auth=True),
        route("/personas/generate", generate, methods=["POST"], auth=True),
        route("/personas/drafts/{job_id}", get_draft, auth=True),
        route("/personas/import", import_card, methods=["POST"], auth=True, max_body=card_limit),
        route("/personas/reports", moderation_queue, auth=True),
        route(p, get_persona),
        route(p, update_persona, methods=["PATCH"], auth=True),
        route(p, delete_persona, methods=["DELETE"], auth=True),
        route(f"{p}/fork", fork_persona, methods=["POST"], auth=True),
        route(f"{p}/like", like, methods=["PUT"], auth=True),
        route(f"{p}/like", unlike, methods=["DELETE"], auth=True),
        route(f"{p}/report", report, methods=["POST"], auth=True),
        route(f"{p}/restore", restore, methods=["POST"], auth=True),
        route(f"{p}/remove", remove, methods=["POST"], auth=True),
        route(f"{p}/card.json", card_json),
        route(f"{p}/card.png", card_png),
        route(f"{p}/conversations", start_conversation, methods=["POST"], auth=True),
        route("/users/me/persona", get_user_persona, auth=True),
        route("/users/me/persona", put_user_persona, methods=["PUT"], auth=True),
        route("/users/me/persona", delete_user_persona, methods=["DELETE"], auth=True),
        route("/users/me/settings", get_content_settings, auth=True),
        route("/users/me/settings", patch_content_settings, methods=["PATCH"], auth=True),
        route("/users/{user_id}", profile),
        route("/users/{user_id}/follow", follow, methods=["PUT"], auth=True),
        route("/users/{user_id}/follow", unfollow, methods=["DELETE"], auth=True),
        route("/feed", feed, auth=True),
        route("/conversations", list_conversations, auth=True),
        route(c, get_conversation, auth=True),
        route(c, update_conversation, methods=["PATCH"], auth=True),
        route(c, delete_conversation, methods=["DELETE"], auth=True),
        route(f"{c}/messages", list_messages, auth=True),
        route(f"{c}/messages", send_message, methods=["POST"], auth=True),
        route(f"{c}/messages/{{message_id}}", edit_message, methods=["PATCH"], auth=True),
        route(f"{c}/messages/{{message_id}}", delete_message, methods=["DELETE"], auth=True),
        route(f"{c}/regenerate", regenerate, methods=["POST"], auth=True),
        route(f"{c}/warm-up", warm_up, methods=["POST"], auth=True),
        route(f"{c}/generations/{{job_id}}/cancel", cancel, methods=["POST"], auth=True),
    ]


def create_app(settings: Settings, *, store: Store | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def setup(ctx: ServiceContext) -> AsyncIterator[None]:
        backing = store or (PgStore(ctx.pool) if ctx.pool is not None else MemoryStore())
        quick = BusClient(
            ctx.nc,
            ctx.js,
            msgspec.structs.replace(ctx.settings, no_responders_retry=0.0),
            prefix=ctx.bus.prefix,
        )
        profiles = Profiles(ctx.bus, quick)
        media = Media(ctx.bus, quick)
        svc = PersonaService(backing, ctx.settings, ctx.js, EventPublisher(ctx.js), profiles, media)
        chat = ChatService(backing, svc, ctx.settings, ctx.nc, ctx.js, profiles)
        ctx.state["personas"] = svc
        ctx.state["chat"] = chat
        room_store = PgRoomStore(ctx.pool) if ctx.pool is not None else MemoryRoomStore()
        rooms = ctx.state["rooms"] = RoomService(room_store, chat, ctx.settings, ctx.nc, ctx.js)
        async with (
            consuming(ctx.js, ctx.settings, [*results.subscribers(svc, chat), *rooms.subscribers()]),
            seeding(ctx.settings, svc, ctx.bus),
        ):
            yield

    spec = OpenAPI("persona_svc", description="Personas, community, conversations and character cards.")
    return create_service_app(
        SERVICE,
        settings,
        [*routes(settings), *rooms_routes.routes()],
        spec=spec,
        setup=setup,
        migrations=MIGRATIONS,
    )
