"""The export formats Workbench imports, read as a stream: ChatGPT's, Open WebUI's and Workbench's own.

Nothing here knows Flask or the database. `read_export` takes the uploaded file (a seekable binary stream) and
yields one neutral record per conversation, `ImportedConversation` (or `Unreadable`, for one it cannot read),
while reading the file; only one conversation is ever held in memory, so a 200 MB export costs what its
largest conversation costs, not what the file weighs. ijson reads the JSON piece by piece; a .zip (ChatGPT's
whole export) is read through its `conversations.json` member, decompressed as it is read.

Each format keeps its conversation as a tree of messages (an edit or a regenerated reply starts a branch):

- ChatGPT (`conversations.json`): a list of conversations, each with `mapping` (node id → node with `parent`,
  `children` and `message`) and `current_node`, the last message of the branch shown. Nodes without a message,
  system and tool messages, hidden ones and calls to tools are not conversation a person saw: they are left
  out, and their children hang from the nearest message that is kept.
- Open WebUI (Settings → Chats → Export, or one chat's "Export chat (.json)"): a list of chats, each with
  `chat.history.messages` (id → message with `parentId`) and `chat.history.currentId`; older exports are the
  `chat` objects themselves, and the oldest only have the list `chat.messages`.
- Workbench (History → Export everything, or one conversation's JSON): `{"conversations": [...]}` or one
  conversation; messages in order, with `parent_id` and the conversation's `current_message_id` when the export
  has them (otherwise one branch, in order).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import ijson

CHATGPT, OPEN_WEBUI, WORKBENCH = "chatgpt", "openwebui", "workbench"
FORMAT_NAMES = {CHATGPT: "ChatGPT", OPEN_WEBUI: "Open WebUI", WORKBENCH: "Workbench"}

EXPECTED = (
    "Expected ChatGPT's export (conversations.json, or the whole export .zip), an Open WebUI chat export (.json) "
    "or a Workbench export (.json)."
)
ZIP_MAGIC = b"PK\x03\x04"
UTF8_BOM = b"\xef\xbb\xbf"
CHATGPT_MEMBER = "conversations.json"
# An id longer than this is kept as its digest (the column holds 200 characters).
MAX_SOURCE_ID = 200
IMAGE_PLACEHOLDER = "[An image was here; images are not imported.]"
# Deeper than any export nests (a ChatGPT message's metadata is about a dozen levels down).
MAX_DEPTH = 256
# Bytes handed to the parser at a time. Its C backend turns a whole buffer into events before the first is seen,
# so this also bounds what a deeply nested buffer costs before the depth check refuses it.
PARSE_BUFFER = 8 * 1024


class ExportError(ValueError):
    """The file as a whole cannot be read: not one of the formats, or damaged. The message is for a person."""


@dataclass(frozen=True)
class ImportedMessage:
    key: str  # the message's id in the source, unique within its conversation
    parent: str | None  # the key of the message it answers or follows; None for a first message
    role: str  # "user" or "assistant"
    content: str
    created_at: datetime | None = None
    provider: str | None = None
    model: str | None = None
    status: str = "complete"
    error: str | None = None


@dataclass
class ImportedConversation:
    source: str  # CHATGPT, OPEN_WEBUI or WORKBENCH
    source_id: str  # the conversation's id in the source: importing it again finds it by this
    title: str
    provider: str
    model: str
    created_at: datetime | None
    updated_at: datetime | None
    system_prompt: str | None = None
    # Parents before their children; the messages of every branch.
    messages: list[ImportedMessage] = field(default_factory=list)
    # The key of the last message of the branch the source showed (None: there are no messages).
    current: str | None = None

    def branch(self) -> list[ImportedMessage]:
        """The messages of the current branch, first to last."""
        by_key = {message.key: message for message in self.messages}
        path: list[ImportedMessage] = []
        key = self.current
        while key is not None and key in by_key and len(path) <= len(by_key):
            path.append(by_key[key])
            key = by_key[key].parent
        return path[::-1]


@dataclass(frozen=True)
class Unreadable:
    """A conversation the file holds that could not be read; the others are imported."""

    source: str
    source_id: str | None
    title: str | None
    reason: str


Record = ImportedConversation | Unreadable


class _Bad(Exception):
    """This one conversation cannot be read (the reason is for a person)."""


# -- the file: JSON or a .zip -------------------------------------------------------------------------------------


def read_export(upload: IO[bytes], max_member_bytes: int | None = None) -> Iterator[Record]:
    """Every conversation of the export in `upload` (seekable), as it is read.

    Raises ExportError for a file that is not one of the formats, or is damaged (possibly after yielding some
    conversations: the caller imports all or nothing). `max_member_bytes` bounds the uncompressed size of the
    JSON inside a .zip."""
    upload.seek(0)
    head = upload.read(len(ZIP_MAGIC))
    upload.seek(0)
    if head == ZIP_MAGIC:
        yield from _read_zip(upload, max_member_bytes)
    else:
        yield from _read_json(lambda: _rewound(upload), "The file")


def _rewound(upload: IO[bytes]) -> IO[bytes]:
    upload.seek(0)
    return upload


def _read_zip(upload: IO[bytes], max_member_bytes: int | None) -> Iterator[Record]:
    try:
        archive = zipfile.ZipFile(upload)  # type: ignore[arg-type]
        members = [info for info in archive.infolist() if info.filename.rsplit("/", 1)[-1] == CHATGPT_MEMBER]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ExportError(f"The .zip archive is damaged ({error}). {EXPECTED}") from None
    if not members:
        raise ExportError(f"The .zip archive has no {CHATGPT_MEMBER}. {EXPECTED}")
    member = min(members, key=lambda info: info.filename.count("/"))  # the export's own, not one in a folder
    if max_member_bytes is not None and member.file_size > max_member_bytes:
        raise ExportError(
            f"The {CHATGPT_MEMBER} in the .zip is {member.file_size / 2**20:,.0f} MB; at most "
            f"{max_member_bytes / 2**20:,.0f} MB can be imported at once."
        )
    try:
        yield from _read_json(lambda: archive.open(member), f"The {CHATGPT_MEMBER} in the .zip")
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        # A bad CRC or a truncated member shows only once it is read: after some conversations were yielded.
        raise ExportError(f"The .zip archive is damaged ({error}). {EXPECTED}") from None
    finally:
        archive.close()


def _read_json(open_stream: Callable[[], IO[bytes]], what: str) -> Iterator[Record]:
    """Two passes: the first finds where the conversations are (a list, `conversations`, or one object), the
    second reads them one at a time. `open_stream` gives the JSON from its start each time it is called."""
    try:
        prefix = _where_conversations_are(_text_start(open_stream(), what), what)
        stream = _text_start(open_stream(), what)
        first = True
        events = _depth_limited(ijson.parse(stream, buf_size=PARSE_BUFFER, use_float=True), what)
        for index, item in enumerate(ijson.items(events, prefix)):
            record = read_conversation(item, index)
            if first and isinstance(record, Unreadable) and record.source == "unknown":
                raise ExportError(f"{what} is JSON, but not an export Workbench knows. {EXPECTED}")
            first = False
            yield record
    except ijson.JSONError as error:
        raise ExportError(f"{what} {_json_problem(error)}. {EXPECTED}") from None
    except UnicodeDecodeError:
        raise ExportError(f"{what} is not text in UTF-8. {EXPECTED}") from None


def _text_start(stream: IO[bytes], what: str) -> IO[bytes]:
    """`stream` past a UTF-8 byte order mark; refuses what does not start like a JSON object or list."""
    head = stream.read(len(UTF8_BOM))
    if head != UTF8_BOM:
        # Not a BOM: hand the bytes back in front of the rest.
        stream = _Prefixed(head, stream)
    peek = b""
    while True:
        chunk = stream.read(1)
        if not chunk:
            break
        if chunk in b" \t\r\n":
            continue
        peek = chunk
        break
    if not peek:
        raise ExportError(f"{what} is empty. {EXPECTED}")
    if peek not in b"[{":
        kind = "a .zip archive nor JSON" if what == "The file" else "JSON"
        raise ExportError(f"{what} is neither {kind}. {EXPECTED}")
    return _Prefixed(peek, stream)


class _Prefixed:
    """A read-only stream: `head`, then the rest of `stream` (what was peeked at, handed back)."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._stream.read(size - len(data))
            return data
        return self._stream.read(size)


def _depth_limited(events: Iterator[tuple[str, str, Any]], what: str) -> Iterator[tuple[str, str, Any]]:
    """The parser's events, refused past MAX_DEPTH levels of nesting. ijson names each event by its path (the
    prefix), so its work per event grows with the depth: a small file of a million '[' would hold a worker for
    hours. Exports nest a dozen levels; the check costs about a second a 20 MB (the events pass through Python)."""
    depth = 0
    for event in events:
        kind = event[1]
        if kind == "start_map" or kind == "start_array":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExportError(f"{what} is nested deeper than {MAX_DEPTH} levels, which no export is. {EXPECTED}")
        elif kind == "end_map" or kind == "end_array":
            depth -= 1
        yield event


def _where_conversations_are(stream: IO[bytes], what: str) -> str:
    """ijson's prefix of the conversations: "item" (a list), "conversations.item" (Workbench's export of
    everything) or "" (one conversation)."""
    events = _depth_limited(ijson.parse(stream, buf_size=PARSE_BUFFER), what)
    try:
        _, event, _ = next(events)
    except StopIteration:
        raise ExportError(f"{what} is empty. {EXPECTED}") from None
    if event == "start_array":
        return "item"
    for prefix, event, value in events:
        if prefix == "" and event == "map_key" and value == "conversations":
            return "conversations.item"
        if prefix == "" and event == "end_map":
            return ""
    raise ExportError(f"{what} is cut short. {EXPECTED}")


def _json_problem(error: Exception) -> str:
    """What yajl found, said for a person (its own message quotes the bytes around the fault)."""
    text = str(error)
    if "premature EOF" in text or "Incomplete JSON" in text:
        return "is cut short: it ends in the middle of the JSON"
    if "invalid bytes in UTF8" in text:
        return "is not text in UTF-8"
    reason = text.removeprefix("b'").removeprefix('b"').replace("\\n", "\n").split("\n")[0].split(" (right here)")[0]
    return f"is not valid JSON ({reason.strip()[:100]})"


# -- one conversation ---------------------------------------------------------------------------------------------


def read_conversation(item: Any, index: int = 0) -> Record:
    """The neutral record of one conversation of any known format (`index`: its place in the file)."""
    if not isinstance(item, dict):
        return Unreadable("unknown", None, None, f"Item {index + 1} of the file is not a conversation.")
    if "mapping" in item:
        source, reader = CHATGPT, _chatgpt
    elif _is_open_webui(item):
        source, reader = OPEN_WEBUI, _open_webui
    elif isinstance(item.get("messages"), list) and "provider" in item:
        source, reader = WORKBENCH, _workbench
    else:
        return Unreadable("unknown", None, _text(item.get("title")), f"Item {index + 1} is not a known conversation.")
    try:
        return reader(item)
    except _Bad as error:
        return Unreadable(source, _id_of(item, source), _text(item.get("title")), str(error))


def _is_open_webui(item: dict) -> bool:
    """A chat as exported now (`chat` inside), or an older export's chat object itself."""
    if isinstance(item.get("chat"), dict) or isinstance(item.get("history"), dict):
        return True
    return "models" in item and isinstance(item.get("messages"), list)


def _id_of(item: dict, source: str) -> str | None:
    value = item.get("id")
    if source == CHATGPT:
        value = item.get("conversation_id") or value
    elif source == OPEN_WEBUI and not value and isinstance(item.get("chat"), dict):
        value = item["chat"].get("id")
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    value = str(value)
    return value if len(value) <= MAX_SOURCE_ID else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _source_id(item: dict, source: str) -> str:
    """The conversation's id in the source; an export without one gets the digest of its content, so the same
    file imported again still finds it."""
    found = _id_of(item, source)
    if found:
        return found
    try:
        canonical = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        raise _Bad("It has no id, and is nested too deeply to be told apart by its content.") from None
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _moment(value: Any) -> datetime | None:
    """A time as exports write it: seconds (or milliseconds) since 1970, or ISO 8601; None if it is neither."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value.strip():
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


@dataclass
class _Node:
    key: str
    parent: str | None
    message: ImportedMessage | None  # None: not kept (its children hang from its nearest kept ancestor)
    order: tuple = ()


def _tree(nodes: dict[str, _Node], current: str | None) -> tuple[list[ImportedMessage], str | None]:
    """The kept messages, parents before children (siblings in `order`), each re-parented to its nearest kept
    ancestor; and the current branch's last kept message (`current`, or its nearest kept ancestor; without
    one, the newest last reply). Nodes in a cycle are unreachable from a root and left out."""
    children: dict[str | None, list[_Node]] = {}
    for node in nodes.values():
        parent = node.parent if node.parent in nodes and node.parent != node.key else None
        children.setdefault(parent, []).append(node)
    for siblings in children.values():
        siblings.sort(key=lambda node: node.order)
    ordered: list[ImportedMessage] = []
    kept_ancestor: dict[str, str | None] = {}
    stack: list[tuple[_Node, str | None]] = [(node, None) for node in reversed(children.get(None, []))]
    while stack:
        node, ancestor = stack.pop()
        if node.key in kept_ancestor:
            continue
        if node.message is not None:
            ordered.append(_reparented(node.message, ancestor))
            here: str | None = node.key
        else:
            here = ancestor
        kept_ancestor[node.key] = here
        stack.extend((child, here) for child in reversed(children.get(node.key, [])))
    found = kept_ancestor.get(current) if current is not None else None
    if found is None:
        # No current message named (or none of it kept): the newest branch, from the last root by last children.
        level = children.get(None, [])
        while level and level[-1].key in kept_ancestor:
            found = kept_ancestor[level[-1].key] or found
            level = children.get(level[-1].key, [])
    if found is None and ordered:
        found = ordered[-1].key
    return ordered, found


def _reparented(message: ImportedMessage, parent: str | None) -> ImportedMessage:
    if message.parent == parent:
        return message
    return ImportedMessage(
        key=message.key,
        parent=parent,
        role=message.role,
        content=message.content,
        created_at=message.created_at,
        provider=message.provider,
        model=message.model,
        status=message.status,
        error=message.error,
    )


def _times(
    messages: list[ImportedMessage], created: datetime | None, updated: datetime | None
) -> tuple[datetime | None, datetime | None]:
    stamps = [message.created_at for message in messages if message.created_at is not None]
    created = created or (min(stamps) if stamps else None) or updated
    updated = updated or (max(stamps) if stamps else None) or created
    return created, updated


# -- ChatGPT ------------------------------------------------------------------------------------------------------


def _chatgpt(item: dict) -> ImportedConversation:
    mapping = item.get("mapping")
    if not isinstance(mapping, dict):
        raise _Bad("Its 'mapping' (the messages) is not an object.")
    nodes: dict[str, _Node] = {}
    for position, (key, node) in enumerate(mapping.items()):
        if not isinstance(node, dict):
            continue
        key = str(key)
        parent = node.get("parent")
        message = _chatgpt_message(key, node.get("message"))
        stamp = message.created_at.timestamp() if message and message.created_at else float("inf")
        nodes[key] = _Node(key, str(parent) if parent is not None else None, message, (stamp, position))
    current = item.get("current_node")
    messages, current_key = _tree(nodes, str(current) if current is not None else None)
    if not messages:
        raise _Bad("It has no messages to import.")
    created, updated = _times(messages, _moment(item.get("create_time")), _moment(item.get("update_time")))
    models = [message.model for message in messages if message.model]
    model = _text(item.get("default_model_slug")) or (models[-1] if models else None) or "chatgpt"
    return ImportedConversation(
        source=CHATGPT,
        source_id=_source_id(item, CHATGPT),
        title=_text(item.get("title")) or "",
        provider="openai",
        model=model,
        created_at=created,
        updated_at=updated,
        messages=messages,
        current=current_key,
    )


def _chatgpt_message(key: str, message: Any) -> ImportedMessage | None:
    """The message a person saw, or None for what ChatGPT does not show (system, tools, hidden, empty)."""
    if not isinstance(message, dict):
        return None
    role = (message.get("author") or {}).get("role") if isinstance(message.get("author"), dict) else None
    if role not in ("user", "assistant"):
        return None
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if metadata.get("is_visually_hidden_from_conversation"):
        return None
    if message.get("recipient", "all") not in ("all", None):
        return None  # a call to a tool (browsing, code), not a reply
    content = message.get("content") if isinstance(message.get("content"), dict) else {}
    if content.get("content_type", "text") not in ("text", "multimodal_text"):
        return None  # code, tool output, reasoning, quotes, custom instructions
    listed = content.get("parts") or []
    parts: list[str] = []
    for part in listed if isinstance(listed, list) else [listed]:
        if isinstance(part, str):
            if part.strip():
                parts.append(part)
        elif isinstance(part, dict):
            if isinstance(part.get("text"), str) and part["text"].strip():
                parts.append(part["text"])  # a voice message's transcript
            elif "asset_pointer" in part or str(part.get("content_type", "")).startswith("image"):
                parts.append(IMAGE_PLACEHOLDER)
    text = "\n\n".join(parts)
    if not text.strip():
        return None
    model = _text(metadata.get("model_slug")) if role == "assistant" else None
    return ImportedMessage(
        key=key,
        parent=None,
        role=role,
        content=text,
        created_at=_moment(message.get("create_time")),
        provider="openai" if role == "assistant" else None,
        model=model,
    )


# -- Open WebUI ---------------------------------------------------------------------------------------------------


def _open_webui(item: dict) -> ImportedConversation:
    chat = item["chat"] if isinstance(item.get("chat"), dict) else item
    history = chat.get("history") if isinstance(chat.get("history"), dict) else {}
    listed = history.get("messages")
    nodes: dict[str, _Node] = {}
    current = history.get("currentId")
    if isinstance(listed, dict) and listed:
        for position, (key, message) in enumerate(listed.items()):
            if not isinstance(message, dict):
                continue
            key = str(message.get("id") or key)
            parent = message.get("parentId")
            kept = _open_webui_message(key, message)
            stamp = kept.created_at.timestamp() if kept and kept.created_at else float("inf")
            nodes[key] = _Node(key, str(parent) if parent is not None else None, kept, (stamp, position))
    elif isinstance(chat.get("messages"), list):
        # The oldest exports: one branch, in order.
        parent_key: str | None = None
        for position, message in enumerate(chat["messages"]):
            if not isinstance(message, dict):
                continue
            key = str(message.get("id") or f"#{position}")
            if key in nodes:
                key = f"#{position}"
            nodes[key] = _Node(key, parent_key, _open_webui_message(key, message), (position,))
            parent_key = key
        current = parent_key
    else:
        raise _Bad("It has no 'history' of messages.")
    messages, current_key = _tree(nodes, str(current) if current is not None else None)
    if not messages:
        raise _Bad("It has no messages to import.")
    created, updated = _times(
        messages,
        _moment(item.get("created_at")) or _moment(chat.get("timestamp")),
        _moment(item.get("updated_at")),
    )
    models = chat.get("models") if isinstance(chat.get("models"), list) else []
    answered = [message.model for message in messages if message.model]
    model = next((name for name in models if isinstance(name, str) and name), None)
    params = chat.get("params") if isinstance(chat.get("params"), dict) else {}
    system = _text(params.get("system")) or _text(chat.get("system"))
    return ImportedConversation(
        source=OPEN_WEBUI,
        source_id=_source_id(item, OPEN_WEBUI),
        title=_text(item.get("title")) or _text(chat.get("title")) or "",
        provider=OPEN_WEBUI,
        model=model or (answered[-1] if answered else "open-webui"),
        created_at=created,
        updated_at=updated,
        system_prompt=system,
        messages=messages,
        current=current_key,
    )


def _open_webui_message(key: str, message: dict) -> ImportedMessage | None:
    role = message.get("role")
    content = message.get("content")
    if role not in ("user", "assistant") or not isinstance(content, str) or not content.strip():
        return None
    model = _text(message.get("model")) if role == "assistant" else None
    error = message.get("error")
    failed = role == "assistant" and bool(error)
    return ImportedMessage(
        key=key,
        parent=None,
        role=role,
        content=content,
        created_at=_moment(message.get("timestamp")),
        provider=OPEN_WEBUI if role == "assistant" else None,
        model=model,
        status="error" if failed else "complete",
        error=(_text(error) or _text(error.get("content") if isinstance(error, dict) else None) or "Failed.")
        if failed
        else None,
    )


# -- Workbench ----------------------------------------------------------------------------------------------------

WORKBENCH_STATUSES = {"complete": "complete", "error": "error", "interrupted": "interrupted", "pending": "interrupted"}


def _workbench(item: dict) -> ImportedConversation:
    if item.get("id") is None:
        raise _Bad("It has no 'id'.")
    nodes: dict[str, _Node] = {}
    branched = any(isinstance(message, dict) and "parent_id" in message for message in item["messages"])
    previous: str | None = None
    for position, message in enumerate(item["messages"]):
        if not isinstance(message, dict) or message.get("id") is None:
            raise _Bad(f"Its message {position + 1} has no 'id'.")
        key = str(message["id"])
        if key in nodes:
            continue
        parent = message.get("parent_id") if branched else previous
        role = message.get("role")
        content = message.get("content")
        kept = None
        if role in ("user", "assistant") and isinstance(content, str):
            status = WORKBENCH_STATUSES.get(str(message.get("status")), "complete")
            kept = ImportedMessage(
                key=key,
                parent=None,
                role=role,
                content=content,
                created_at=_moment(message.get("created_at")),
                provider=_text(message.get("provider")),
                model=_text(message.get("model")),
                status=status if role == "assistant" else "complete",
                error=_text(message.get("error")) if role == "assistant" and status != "complete" else None,
            )
        nodes[key] = _Node(key, str(parent) if parent is not None else None, kept, (position,))
        previous = key
    current = item.get("current_message_id")
    messages, current_key = _tree(nodes, str(current) if current is not None else previous)
    if not messages:
        raise _Bad("It has no messages to import.")
    created, updated = _times(messages, _moment(item.get("created_at")), _moment(item.get("updated_at")))
    return ImportedConversation(
        source=WORKBENCH,
        source_id=_source_id(item, WORKBENCH),
        title=_text(item.get("title")) or "",
        provider=_text(item.get("provider")) or WORKBENCH,
        model=_text(item.get("model")) or "unknown",
        created_at=created,
        updated_at=updated,
        system_prompt=_text(item.get("system_prompt")),
        messages=messages,
        current=current_key,
    )
