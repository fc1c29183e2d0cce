"""OpenAPI description of persona_svc's endpoints."""

from __future__ import annotations

from chassis.openapi import OpenAPI
from chassis.settings import Settings
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

P = "/personas/{persona_id}"
C = "/conversations/{conversation_id}"


# What one can do with a persona, a conversation: the targets of the links below.
PERSONA_OPS = (
    f"GET {P}",
    f"PATCH {P}",
    f"DELETE {P}",
    f"GET {P}/card.json",
    f"GET {P}/card.png",
    f"POST {P}/fork",
    f"PUT {P}/like",
    f"POST {P}/report",
    f"POST {P}/conversations",
)
CONVERSATION_OPS = (
    f"GET {C}",
    f"PATCH {C}",
    f"DELETE {C}",
    f"GET {C}/messages",
    f"POST {C}/messages",
    f"POST {C}/regenerate",
)


def persona_links(pointer: str) -> dict[str, dict[str, str]]:
    """Links to what one can do with the persona whose id is at `pointer` in the answer."""
    return {op: {"persona_id": f"$response.body#{pointer}"} for op in PERSONA_OPS}


def turn_links() -> dict[str, dict[str, str]]:
    """Links from a chat turn (202) to the reply being written."""
    return {
        f"PATCH {C}/messages/{{message_id}}": {
            "conversation_id": "$request.path.conversation_id",
            "message_id": "$response.body#/data/reply_message_id",
        },
        f"DELETE {C}/messages/{{message_id}}": {
            "conversation_id": "$request.path.conversation_id",
            "message_id": "$response.body#/data/reply_message_id",
        },
        f"POST {C}/generations/{{job_id}}/cancel": {
            "conversation_id": "$request.path.conversation_id",
            "job_id": "$response.body#/data/job_id",
        },
    }


def conversation_links(pointer: str) -> dict[str, dict[str, str]]:
    """Links to a conversation's operations, its id at `pointer` in the answer."""
    return {op: {"conversation_id": f"$response.body#{pointer}"} for op in CONVERSATION_OPS}


# Multipart framing beside a card sent as a form's file.
CARD_FRAMING = 64 * 1024


def build_spec(settings: Settings | None = None) -> OpenAPI:
    settings = settings or Settings()
    spec = OpenAPI("persona_svc", description="Personas, community, conversations and character cards.")
    t = ("personas",)
    spec.add(
        "get",
        "/personas",
        "Browse public personas (new, top or trending; filter by tag, text or creator)",
        query=PersonaListQuery,
        response=list[PersonaSummary],
        errors=(403, 422),
        tags=t,
        links={
            **persona_links("/data/0/id"),
            "GET /users/{user_id}": {"user_id": "$response.body#/data/0/owner_id"},
        },
        description="Each item is a summary (what a card shows); `GET /personas/{persona_id}` has "
        "the whole persona. Keyset pagination: pass `meta.next_cursor` as `cursor` (a cursor from "
        "another list or ordering is a 422). `q` matches name, tagline and tags (case-insensitive "
        "substring). Listing your own `creator_id` shows your private and unlisted personas too. "
        "NSFW personas show only to callers whose content settings allow them "
        "(`PATCH /users/me/settings`), and always to their creator; `include_nsfw=false` hides "
        "them, `include_nsfw=true` without the setting is a 403.",
    )
    spec.add(
        "post",
        "/personas",
        "Create a persona",
        body=PersonaCreate,
        response=Persona,
        status=201,
        auth=True,
        tags=t,
        links=persona_links("/data/id"),
    )
    spec.add("get", P, "Read a persona", response=Persona, errors=(404,), tags=t)
    spec.add(
        "patch",
        P,
        "Change a persona (owner only)",
        body=PersonaPatch,
        response=Persona,
        auth=True,
        errors=(403, 404),
        tags=t,
    )
    spec.add("delete", P, "Delete a persona (owner only)", status=204, auth=True, errors=(403, 404), tags=t)
    spec.add(
        "post",
        f"{P}/fork",
        "Copy a public (or your own) persona into your account",
        body=ForkRequest,
        response=Persona,
        status=201,
        auth=True,
        errors=(403, 404),
        tags=t,
        links=persona_links("/data/id"),
    )
    g = ("drafts",)
    spec.add(
        "post",
        "/personas/generate",
        "Draft a persona from a one-line idea (AI); progress and result arrive as events",
        body=GenerateRequest,
        response=JobAccepted,
        status=202,
        auth=True,
        errors=(503,),
        tags=g,
        links={"GET /personas/drafts/{job_id}": {"job_id": "$response.body#/data/job_id"}},
    )
    spec.add(
        "get",
        "/personas/drafts/{job_id}",
        "Read a draft (for a client that missed the events)",
        response=DraftView,
        auth=True,
        errors=(404,),
        tags=g,
    )
    k = ("character cards",)
    spec.add(
        "post",
        "/personas/import",
        "Import a Character Card V1/V2/V3 (JSON, or PNG with a `chara`/`ccv3` chunk)",
        query=ImportQuery,
        response=Persona,
        status=201,
        auth=True,
        errors=(422, 503),
        tags=k,
        content_type="application/json",
        max_body=settings.persona_card_max_bytes + CARD_FRAMING,
        description="Body: the card JSON, the PNG (`image/png`), or a multipart form with the file as "
        "`file`. A PNG's image becomes the avatar. Malformed or oversized cards: 422, nothing created.",
    )
    spec.add(
        "get",
        f"{P}/card.json",
        "Export as a V3 card (with the V2 fields)",
        response=CharacterCard,
        errors=(404,),
        # A file to save and import elsewhere (`content-disposition: attachment`): the bare card.
        envelope=False,
        tags=k,
    )
    spec.add(
        "get",
        f"{P}/card.png",
        "Export as a PNG card (avatar with `chara` and `ccv3` chunks)",
        response_type="image/png",
        errors=(404, 503),
        tags=k,
    )
    c = ("community",)
    spec.add("put", f"{P}/like", "Like (idempotent)", response=LikeState, auth=True, errors=(404,), tags=c)
    spec.add(
        "delete", f"{P}/like", "Unlike (idempotent)", response=LikeState, auth=True, errors=(404,), tags=c
    )
    spec.add(
        "post",
        f"{P}/report",
        "Report a persona; reports from enough distinct users hide it until reviewed",
        description="201 for a new report; 200 when you had already reported it (nothing changes). "
        "Reporting your own persona is a 422.",
        body=ReportCreate,
        response=ReportState,
        status=201,
        also=(200,),
        auth=True,
        errors=(404, 422),
        tags=c,
    )
    spec.add(
        "get",
        "/users/{user_id}",
        "Public profile with community counts (`me` for yourself; signed out, `me` is a 401)",
        response=UserProfile,
        errors=(401, 404, 503),
        tags=c,
    )
    spec.add(
        "put",
        "/users/{user_id}/follow",
        "Follow a creator",
        response=FollowState,
        auth=True,
        errors=(404, 422),
        tags=c,
    )
    spec.add(
        "delete",
        "/users/{user_id}/follow",
        "Unfollow a creator (yourself: 422)",
        response=FollowState,
        auth=True,
        errors=(422,),
        tags=c,
    )
    spec.add(
        "get",
        "/feed",
        "Public personas of the creators you follow, newest first",
        query=FeedQuery,
        response=list[PersonaSummary],
        auth=True,
        errors=(403, 422),
        tags=c,
    )
    spec.add(
        "get",
        "/users/me/settings",
        "Your content settings (whether Explore, search and the feed show adult personas)",
        response=ContentSettings,
        auth=True,
        tags=c,
    )
    spec.add(
        "patch",
        "/users/me/settings",
        "Change your content settings; turning adult content on needs `confirm_adult: true`",
        body=ContentSettingsPatch,
        response=ContentSettings,
        auth=True,
        errors=(422,),
        tags=c,
    )
    m = ("moderation",)
    spec.add(
        "get",
        "/personas/reports",
        "Personas with open reports (admins)",
        query=ModerationQuery,
        response=list[ReportedPersona],
        auth=True,
        errors=(403,),
        tags=m,
    )
    spec.add(
        "post",
        f"{P}/restore",
        "Close the reports and list the persona again (admins)",
        response=Persona,
        auth=True,
        errors=(403, 404),
        tags=m,
    )
    spec.add(
        "post",
        f"{P}/remove",
        "Close the reports and take the persona down (admins)",
        response=Persona,
        auth=True,
        errors=(403, 404),
        tags=m,
    )
    v = ("conversations",)
    spec.add(
        "post",
        f"{P}/conversations",
        "Start a conversation (the greeting is its first message)",
        response=ConversationStarted,
        status=201,
        auth=True,
        errors=(404,),
        tags=v,
        links=conversation_links("/data/conversation/id"),
    )
    spec.add(
        "get",
        "/conversations",
        "Your conversations, latest activity first (with one persona: `persona_id`)",
        query=ConversationListQuery,
        response=list[Conversation],
        auth=True,
        errors=(422,),
        tags=v,
        links=conversation_links("/data/0/id"),
    )
    spec.add(
        "patch",
        C,
        "Rename a conversation (`title`) or set its own user persona (`user_persona`); null clears",
        body=ConversationPatch,
        response=Conversation,
        auth=True,
        errors=(404, 422),
        tags=v,
    )
    spec.add(
        "get",
        C,
        "Read a conversation (participants only; 404 for everyone else)",
        response=Conversation,
        auth=True,
        errors=(404,),
        tags=v,
    )
    spec.add("delete", C, "Delete a conversation", status=204, auth=True, errors=(404,), tags=v)
    spec.add(
        "get",
        f"{C}/messages",
        "Messages, newest first",
        query=PageQuery,
        response=list[Message],
        auth=True,
        errors=(404,),
        tags=v,
    )
    spec.add(
        "post",
        f"{C}/messages",
        "Send a message; the reply is written by a job (`ai_chat_*` events) and stored when done",
        body=MessageCreate,
        response=ChatTurn,
        status=202,
        auth=True,
        errors=(404, 409, 503),
        tags=v,
        links=turn_links(),
    )
    spec.add(
        "post",
        f"{C}/regenerate",
        "Write another reply for the latest message (kept as a swipe)",
        response=ChatTurn,
        status=202,
        auth=True,
        errors=(404, 409, 503),
        tags=v,
        links=turn_links(),
    )
    spec.add(
        "patch",
        f"{C}/messages/{{message_id}}",
        "Edit a message or pick another swipe",
        body=MessagePatch,
        response=Message,
        auth=True,
        errors=(404, 409),
        tags=v,
    )
    spec.add(
        "delete",
        f"{C}/messages/{{message_id}}",
        "Delete a message (`with_reply=true`: a user's message with the reply that answered it)",
        query=MessageDeleteQuery,
        status=204,
        auth=True,
        errors=(404, 409),
        tags=v,
    )
    spec.add(
        "post",
        f"{C}/generations/{{job_id}}/cancel",
        "Stop a reply being written (its partial text is kept)",
        response=CancelAccepted,
        status=202,
        auth=True,
        errors=(404, 409),
        tags=v,
    )
    spec.add(
        "get",
        "/users/me/persona",
        "Who you play in chats (`{{user}}` and a description told to the model); null when unset",
        response=UserPersona | None,
        auth=True,
        tags=v,
    )
    spec.add(
        "put",
        "/users/me/persona",
        "Set who you play in chats (a conversation may override it)",
        body=UserPersona,
        response=UserPersona,
        auth=True,
        errors=(422,),
        tags=v,
    )
    spec.add("delete", "/users/me/persona", "Forget your user persona", status=204, auth=True, tags=v)
    return spec
