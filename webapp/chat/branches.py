"""Branches of a conversation: edits and regenerations make its messages a tree; a conversation shows one branch.

Each message names the one it follows (`parent_id`; None for a first message); the versions of a message are its
siblings, the messages with the same parent. A conversation names the last message of the branch it shows
(`current_message_id`), and `thread()` reads that branch back: one query for the conversation's messages (none when
they are loaded already), the walk in Python. No Flask here: the exports, the API schemas and the importer use it.

The chat page shows a window of the branch, its last messages (`service.window()`), and earlier ones a window at a
time. Its tree is an outline, built from the (id, parent_id) columns of every message (`outline()`): a long
conversation's 500 messages are cheap as pairs of integers, and costly as ORM objects with their attachments and
sources to load and their Markdown to render. Only the messages shown are loaded whole. Exports, the API, shares
and the admins' review still read the whole branch (`thread()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import object_session

from webapp.chat.models import Conversation, Message


class Node(Protocol):
    """What the tree needs of a message: a Message, or a row of its (id, parent_id) columns."""

    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...


M = TypeVar("M", bound=Node)


@dataclass(frozen=True)
class Versions:
    """Where a message stands among its versions (the messages that follow the same one, oldest first): ‹ 2/3 ›."""

    number: int
    count: int
    previous_id: int | None
    next_id: int | None


class Tree(Generic[M]):
    """A conversation's messages as edits and regenerations grow them: each message follows its parent, and the
    versions of a message are siblings (same parent). Built from the messages already loaded (or from their ids
    alone: `outline()`), walked in Python."""

    def __init__(self, conversation: Conversation, messages: Sequence[M]) -> None:
        self.conversation = conversation
        self.by_id = {message.id: message for message in messages}
        self.children: dict[int | None, list[M]] = {}
        for message in sorted(messages, key=lambda message: message.id):
            parent = message.parent_id if message.parent_id in self.by_id else None
            self.children.setdefault(parent, []).append(message)
        self.thread = self.branch(self.current_leaf())

    def current_leaf(self) -> M | None:
        """The message the conversation shows last: its current_message_id, or (unset) its newest message."""
        current = self.by_id.get(self.conversation.current_message_id or 0)
        if current is None and self.by_id:
            current = self.by_id[max(self.by_id)]
        return current

    def branch(self, leaf: M | None) -> list[M]:
        """The messages from the first one down to `leaf`, in order."""
        path: list[M] = []
        seen: set[int] = set()
        while leaf is not None and leaf.id not in seen:
            seen.add(leaf.id)
            path.append(leaf)
            leaf = self.by_id.get(leaf.parent_id or 0)
        path.reverse()
        return path

    def latest_leaf(self, message: Node) -> M:
        """The newest message of the branches that go through `message` (ids grow down a branch: it is a leaf)."""
        latest, stack = self.by_id[message.id], [message]
        while stack:
            for child in self.children.get(stack.pop().id, []):
                latest = max(latest, child, key=lambda candidate: candidate.id)
                stack.append(child)
        return latest

    def siblings(self, message: Node) -> list[M]:
        parent = message.parent_id if message.parent_id in self.by_id else None
        return self.children.get(parent, [self.by_id[message.id]])

    def versions(self, message: Node) -> Versions:
        siblings = self.siblings(message)
        index = next(i for i, sibling in enumerate(siblings) if sibling.id == message.id)
        return Versions(
            number=index + 1,
            count=len(siblings),
            previous_id=siblings[index - 1].id if index > 0 else None,
            next_id=siblings[index + 1].id if index + 1 < len(siblings) else None,
        )

    def versions_of_thread(self) -> dict[int, Versions]:
        """The ‹ n/m › of every message shown that has more than one version, by message id."""
        return self.versions_of(self.thread)

    def versions_of(self, messages: Sequence[Node]) -> dict[int, Versions]:
        """The ‹ n/m › of those of `messages` that have more than one version, by message id."""
        shown = {message.id: self.versions(message) for message in messages}
        return {message_id: versions for message_id, versions in shown.items() if versions.count > 1}

    @property
    def branch_count(self) -> int:
        """How many branches (leaves) the conversation has; 1 when it was never edited or regenerated."""
        return sum(1 for message in self.by_id.values() if message.id not in self.children) or 1


def tree(conversation: Conversation) -> Tree[Message]:
    """The conversation's message tree, from one query for its messages (none when they are already loaded)."""
    return Tree(conversation, list(conversation.messages))


def thread(conversation: Conversation) -> list[Message]:
    """The messages of the conversation's current branch, in order: what is shown, exported, shared and sent to the
    model. Search still finds text in other branches; the conversation then opens on this one."""
    return tree(conversation).thread


def outline(conversation: Conversation) -> Tree[Node]:
    """The conversation's message tree from one query for its messages' ids and parents: no text, no attachments,
    no sources. Enough for what is shown where (the branch, ‹ n/m ›, the newest leaf of a version)."""
    session = object_session(conversation)
    assert session is not None, "a conversation read from the database"
    rows = session.execute(
        select(Message.id, Message.parent_id).where(Message.conversation_id == conversation.id)
    ).all()
    return Tree(conversation, rows)
