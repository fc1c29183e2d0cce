"""What persona_svc's handlers' `@Doc`s share: the tags that group its operations, and the links
from an answer to what one can do next with the persona or conversation in it."""

from __future__ import annotations

import functools

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


def links_to(ops: tuple[str, ...], param: str, pointer: str) -> dict[str, dict[str, str]]:
    """Links to `ops`, each taking its path parameter `param` from `pointer` in the answer."""
    return {op: {param: f"$response.body#{pointer}"} for op in ops}


# Links to what one can do with the persona / conversation whose id is at the pointer given.
persona_links = functools.partial(links_to, PERSONA_OPS, "persona_id")
conversation_links = functools.partial(links_to, CONVERSATION_OPS, "conversation_id")


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
