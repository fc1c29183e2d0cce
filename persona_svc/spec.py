"""What persona_svc's handlers' `@Doc`s share: the tags that group its operations, and the links
from an answer to what one can do next with the persona or conversation in it."""

from __future__ import annotations

PERSONAS = ("personas",)
DRAFTS = ("drafts",)
CARDS = ("character cards",)
COMMUNITY = ("community",)
MODERATION = ("moderation",)
CONVERSATIONS = ("conversations",)

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
