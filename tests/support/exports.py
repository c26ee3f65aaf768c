"""Exports of other chat tools, shaped as the real ones are, for the import tests and bench/importer.py.

ChatGPT's `conversations.json` (Settings → Data controls → Export: a .zip holding it), Open WebUI's chat export
(Settings → Chats → Export) and Workbench's own (History → Export everything). Field names, nesting, the
hidden system root, tool calls and times (floats of seconds, or milliseconds) are as those tools write them.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

T0 = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC


def _node(key: str, message: dict | None, parent: str | None, children: list[str]) -> dict:
    return {"id": key, "message": message, "parent": parent, "children": children}


def chatgpt_message(
    key: str,
    role: str,
    text: str | None,
    at: float | None,
    *,
    model: str | None = None,
    content: dict | None = None,
    recipient: str = "all",
    hidden: bool = False,
) -> dict:
    metadata: dict[str, Any] = {}
    if model:
        metadata.update(model_slug=model, default_model_slug=model, finish_details={"type": "stop"})
    if hidden:
        metadata["is_visually_hidden_from_conversation"] = True
    return {
        "id": key,
        "author": {"role": role, "name": None, "metadata": {}},
        "create_time": at,
        "update_time": None,
        "content": content or {"content_type": "text", "parts": [text or ""]},
        "status": "finished_successfully",
        "end_turn": True if role == "assistant" else None,
        "weight": 1.0,
        "metadata": metadata,
        "recipient": recipient,
        "channel": None,
    }


def chatgpt_branched(conversation_id: str = "67a1c0de-0000-4000-8000-000000000001") -> dict:
    """A ChatGPT conversation with an edited first question (two branches), a regenerated reply, and a Python
    tool call on the current branch:

        root (no message) → system (hidden)
            ├─ u1 "What is a monad?" → a1
            └─ u1b "What is a monad, simply?" ├─ a2
                                              └─ a2b → u2 "Show it in Python" → call (to python) → output (tool) → a4
    current_node: a4."""
    t = T0
    m = {
        "root": _node("root", None, None, ["sys"]),
        "sys": _node("sys", chatgpt_message("sys", "system", "", None, hidden=True), "root", ["u1", "u1b"]),
        "u1": _node("u1", chatgpt_message("u1", "user", "What is a monad?", t + 1), "sys", ["a1"]),
        "a1": _node("a1", chatgpt_message("a1", "assistant", "A monad is a monoid…", t + 2, model="gpt-4o"), "u1", []),
        "u1b": _node("u1b", chatgpt_message("u1b", "user", "What is a monad, simply?", t + 10), "sys", ["a2", "a2b"]),
        "a2": _node("a2", chatgpt_message("a2", "assistant", "A box with rules.", t + 11, model="gpt-4o"), "u1b", []),
        "a2b": _node(
            "a2b", chatgpt_message("a2b", "assistant", "A value in a context.", t + 12, model="gpt-4o"), "u1b", ["u2"]
        ),
        "u2": _node(
            "u2",
            chatgpt_message(
                "u2",
                "user",
                None,
                t + 20,
                content={
                    "content_type": "multimodal_text",
                    "parts": [
                        {
                            "content_type": "image_asset_pointer",
                            "asset_pointer": "file-service://file-abc",
                            "size_bytes": 1,
                        },
                        "Show it in Python",
                    ],
                },
            ),
            "a2b",
            ["call"],
        ),
        "call": _node(
            "call",
            chatgpt_message(
                "call",
                "assistant",
                None,
                t + 21,
                model="gpt-4o",
                recipient="python",
                content={"content_type": "code", "language": "unknown", "text": "print(1)"},
            ),
            "u2",
            ["output"],
        ),
        "output": _node(
            "output",
            chatgpt_message("output", "tool", None, t + 22, content={"content_type": "execution_output", "text": "1"}),
            "call",
            ["a4"],
        ),
        "a4": _node(
            "a4", chatgpt_message("a4", "assistant", "Here it is: `Just(1)`.", t + 23, model="gpt-4o"), "output", []
        ),
    }
    return {
        "title": "Monads explained",
        "create_time": t,
        "update_time": t + 23,
        "mapping": m,
        "moderation_results": [],
        "current_node": "a4",
        "plugin_ids": None,
        "conversation_id": conversation_id,
        "conversation_template_id": None,
        "gizmo_id": None,
        "is_archived": False,
        "safe_urls": [],
        "default_model_slug": "gpt-4o",
        "id": conversation_id,
    }


def chatgpt_linear(conversation_id: str, title: str, turns: int, at: float = T0, text_size: int = 0) -> dict:
    """A ChatGPT conversation of `turns` questions and answers on one branch (replies padded to `text_size`)."""
    mapping = {"root": _node("root", None, None, [])}
    parent = "root"
    for turn in range(turns):
        for role, words in (("user", f"Question {turn + 1} of {title}?"), ("assistant", f"Answer {turn + 1}. ")):
            key = f"{conversation_id[:8]}-{turn}-{role[0]}"
            if role == "assistant" and text_size > len(words):
                words = (words + "lorem ipsum dolor sit amet " * (text_size // 27 + 1))[: text_size - 1] + "."
            message = chatgpt_message(
                key, role, words, at + turn * 60 + (30 if role == "assistant" else 0), model="gpt-4o-mini"
            )
            if role == "user":
                message["metadata"] = {}
            mapping[key] = _node(key, message, parent, [])
            mapping[parent]["children"].append(key)
            parent = key
    return {
        "title": title,
        "create_time": at,
        "update_time": at + turns * 60,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": parent,
        "conversation_id": conversation_id,
        "default_model_slug": "gpt-4o-mini",
        "id": conversation_id,
    }


def openwebui_chat(chat_id: str = "8d3f4c2e-1b2a-4c5d-9e8f-0a1b2c3d4e5f") -> dict:
    """An Open WebUI chat as Settings → Chats → Export writes it: a regenerated reply makes two branches,
    `currentId` is on the second."""
    t = int(T0)
    messages = {
        "m1": {
            "id": "m1",
            "parentId": None,
            "childrenIds": ["m2", "m3"],
            "role": "user",
            "content": "Name a prime.",
            "timestamp": t,
            "models": ["llama3.1:8b"],
        },
        "m2": {
            "id": "m2",
            "parentId": "m1",
            "childrenIds": [],
            "role": "assistant",
            "content": "7",
            "model": "llama3.1:8b",
            "modelName": "llama3.1:8b",
            "modelIdx": 0,
            "userContext": None,
            "timestamp": t + 2,
            "done": True,
        },
        "m3": {
            "id": "m3",
            "parentId": "m1",
            "childrenIds": ["m4"],
            "role": "assistant",
            "content": "13",
            "model": "llama3.1:8b",
            "modelName": "llama3.1:8b",
            "timestamp": t + 5,
            "done": True,
        },
        "m4": {
            "id": "m4",
            "parentId": "m3",
            "childrenIds": ["m5"],
            "role": "user",
            "content": "Another?",
            "timestamp": t + 9,
            "models": ["llama3.1:8b"],
        },
        "m5": {
            "id": "m5",
            "parentId": "m4",
            "childrenIds": [],
            "role": "assistant",
            "content": "17",
            "model": "llama3.1:8b",
            "timestamp": t + 11,
            "done": True,
        },
    }
    linear = [messages[key] for key in ("m1", "m3", "m4", "m5")]
    return {
        "id": chat_id,
        "user_id": "3c9e5f7a-0000-4000-8000-00000000beef",
        "title": "Primes",
        "chat": {
            "id": "",
            "title": "Primes",
            "models": ["llama3.1:8b"],
            "params": {"system": "Answer with one number."},
            "history": {"messages": messages, "currentId": "m5"},
            "messages": linear,
            "tags": [],
            "timestamp": t * 1000,
            "files": [],
        },
        "updated_at": t + 11,
        "created_at": t,
        "share_id": None,
        "archived": False,
        "pinned": False,
        "meta": {"tags": []},
        "folder_id": None,
    }


def workbench_export(conversations: list[dict], user: str = "someone@example.com") -> dict:
    return {"exported_at": "2026-11-30T10:00:00+00:00", "user": user, "conversations": conversations}


def workbench_conversation(conversation_id: int = 41, *, branched: bool = False) -> dict:
    """One conversation as Workbench's export writes it (webapp.chat.schemas.Conversation); `branched` adds
    the message tree (`parent_id`, `current_message_id`) with a regenerated first reply."""

    def message(id_: int, role: str, content: str, minute: int, **extra: Any) -> dict:
        body = {
            "id": id_,
            "role": role,
            "content": content,
            "status": "complete",
            "error": None,
            "provider": "openai" if role == "assistant" else None,
            "model": "gpt-4o-mini" if role == "assistant" else None,
            "prompt_tokens": 12 if role == "assistant" else None,
            "completion_tokens": 5 if role == "assistant" else None,
            "latency_ms": 300 if role == "assistant" else None,
            "finish_reason": "stop" if role == "assistant" else None,
            "created_at": f"2026-11-20T09:{minute:02d}:00+00:00",
            "completed_at": f"2026-11-20T09:{minute:02d}:05+00:00" if role == "assistant" else None,
        }
        body.update(extra)
        return body

    messages = [
        message(101, "user", "Plan a picnic.", 0),
        message(102, "assistant", "Bring bread.", 1),
        message(103, "user", "And to drink?", 2),
        message(104, "assistant", "Lemonade.", 3, status="interrupted", error="Stopped."),
    ]
    conversation: dict[str, Any] = {
        "id": conversation_id,
        "title": "Picnic",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "system_prompt": "Be brief.",
        "pinned": False,
        "created_at": "2026-11-20T09:00:00+00:00",
        "updated_at": "2026-11-20T09:03:05+00:00",
        "messages": messages,
    }
    if branched:
        for item, parent in zip(messages, (None, 101, 102, 103), strict=True):
            item["parent_id"] = parent
        messages.append(message(105, "assistant", "Bring cheese.", 4, parent_id=101))
        conversation["current_message_id"] = 105
    return conversation


def as_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def chatgpt_zip(path: Path, conversations: list[dict]) -> Path:
    """ChatGPT's whole export: conversations.json beside chat.html, user.json and an image."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", as_bytes(conversations))
        archive.writestr("chat.html", "<html><body>ChatGPT export</body></html>")
        archive.writestr("user.json", json.dumps({"id": "user-abc", "email": "someone@example.com"}))
        archive.writestr("message_feedback.json", "[]")
        archive.writestr("file-abc-image.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    return path


def write_chatgpt_export(path: Path, megabytes: float, turns: int = 20, text_size: int = 1500) -> int:
    """A ChatGPT conversations.json of about `megabytes` MB, written one conversation at a time (the generator's
    memory stays flat too); returns how many conversations it holds."""
    target = int(megabytes * 1024 * 1024)
    written = 0
    count = 0
    with path.open("wb") as file:
        file.write(b"[")
        while written < target:
            conversation_id = str(uuid.UUID(int=count + 1, version=4))
            item = chatgpt_linear(conversation_id, f"Bench conversation {count + 1}", turns, T0 + count, text_size)
            data = (b"," if count else b"") + as_bytes(item)
            file.write(data)
            written += len(data)
            count += 1
        file.write(b"]")
    return count
