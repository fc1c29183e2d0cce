"""The prompt as chat templates read it.

persona_svc assembles SillyTavern's layout: several system messages up front (instruction,
character, `[Example chat]` turns named `example_user`/`example_assistant`, `[Start a new
chat]`). Open models' chat templates drop `name` and some accept one system message only, so
the leading system messages become one, with each example turn spoken by its name. That head
is the same on every turn of a conversation, which is what lets a server reuse its prompt cache."""

from __future__ import annotations

from proto.chat import PromptMessage


def fold_system(messages: list[PromptMessage], char: str, user: str) -> list[PromptMessage]:
    speakers = {"example_user": user or "User", "example_assistant": char or "Character"}
    n = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    if n == 0 or (n == 1 and not messages[0].name):
        return messages
    head = [f"{speakers.get(m.name, m.name)}: {m.content}" if m.name else m.content for m in messages[:n]]
    return [PromptMessage(role="system", content="\n\n".join(head)), *messages[n:]]
