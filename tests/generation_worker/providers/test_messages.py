"""The prompt as chat templates read it: one system message up front, example turns by name."""

from __future__ import annotations

from generation_worker.providers.messages import fold_system
from proto.chat import PromptMessage


def test_leading_system_messages_become_one_with_examples_spoken_by_name() -> None:
    messages = [
        PromptMessage(role="system", content="Write Mara's next reply."),
        PromptMessage(role="system", content="Mara keeps the lighthouse."),
        PromptMessage(role="system", content="[Example chat]"),
        PromptMessage(role="system", name="example_user", content="Hello"),
        PromptMessage(role="system", name="example_assistant", content="*squints* Hmph."),
        PromptMessage(role="system", content="[Start a new chat]"),
        PromptMessage(role="assistant", content="Shut the door."),
        PromptMessage(role="user", content="Sorry!"),
        PromptMessage(role="system", content="Stay brief."),
    ]
    folded = fold_system(messages, "Mara", "Sam")
    assert [m.role for m in folded] == ["system", "assistant", "user", "system"]
    assert folded[0].content == (
        "Write Mara's next reply.\n\nMara keeps the lighthouse.\n\n[Example chat]\n\n"
        "Sam: Hello\n\nMara: *squints* Hmph.\n\n[Start a new chat]"
    )
    assert folded[0].name is None and folded[1:] == messages[6:]
    # The same history gives the same head: a model server's prompt cache is reused turn to turn.
    longer = [
        *messages,
        PromptMessage(role="assistant", content="Fine."),
        PromptMessage(role="user", content="Tea?"),
    ]
    assert fold_system(longer, "Mara", "Sam")[0] == folded[0]


def test_a_prompt_with_one_plain_system_message_is_sent_as_it_is() -> None:
    messages = [PromptMessage(role="system", content="Be Mara."), PromptMessage(role="user", content="Hi")]
    assert fold_system(messages, "Mara", "Sam") is messages
