"""The export readers (webapp/imports/formats.py) on real-shaped files: ChatGPT's conversations.json and .zip,
Open WebUI's chat export, Workbench's own; trees, current branches, times, models; damaged and unknown files."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.exports import (
    T0,
    as_bytes,
    chatgpt_branched,
    chatgpt_linear,
    chatgpt_zip,
    openwebui_chat,
    workbench_conversation,
    workbench_export,
)
from webapp.imports.formats import (
    IMAGE_PLACEHOLDER,
    ExportError,
    ImportedConversation,
    Unreadable,
    read_conversation,
    read_export,
)


def read(data: bytes) -> list:
    return list(read_export(io.BytesIO(data)))


def only(data: bytes) -> ImportedConversation:
    (record,) = read(data)
    assert isinstance(record, ImportedConversation), record
    return record


def keys(messages) -> list[str]:
    return [message.key for message in messages]


# --- ChatGPT ------------------------------------------------------------------------------------------------------


def test_chatgpt_keeps_every_branch_and_follows_current_node():
    conversation = only(as_bytes([chatgpt_branched()]))
    assert conversation.source == "chatgpt"
    assert conversation.source_id == "67a1c0de-0000-4000-8000-000000000001"
    assert conversation.title == "Monads explained"
    assert (conversation.provider, conversation.model) == ("openai", "gpt-4o")
    # The hidden system message, the tool call and its output are not messages a person saw.
    assert sorted(keys(conversation.messages)) == sorted(["u1", "a1", "u1b", "a2", "a2b", "u2", "a4"])
    parents = {message.key: message.parent for message in conversation.messages}
    assert parents == {"u1": None, "a1": "u1", "u1b": None, "a2": "u1b", "a2b": "u1b", "u2": "a2b", "a4": "u2"}
    assert conversation.current == "a4"
    assert keys(conversation.branch()) == ["u1b", "a2b", "u2", "a4"]


def test_chatgpt_messages_come_parents_first_with_their_text_roles_models_and_times():
    conversation = only(as_bytes([chatgpt_branched()]))
    seen: set[str | None] = {None}
    for message in conversation.messages:
        assert message.parent in seen, f"{message.key} comes before its parent {message.parent}"
        seen.add(message.key)
    by_key = {message.key: message for message in conversation.messages}
    assert by_key["u2"].content == f"{IMAGE_PLACEHOLDER}\n\nShow it in Python"
    assert (by_key["a4"].role, by_key["a4"].model, by_key["a4"].content) == (
        "assistant",
        "gpt-4o",
        "Here it is: `Just(1)`.",
    )
    assert (by_key["u1"].role, by_key["u1"].model) == ("user", None)
    assert by_key["u1"].created_at == datetime.fromtimestamp(T0 + 1, UTC)
    assert conversation.created_at == datetime.fromtimestamp(T0, UTC)
    assert conversation.updated_at == datetime.fromtimestamp(T0 + 23, UTC)


def test_chatgpt_without_current_node_shows_the_newest_branch():
    item = chatgpt_branched()
    del item["current_node"]
    conversation = only(as_bytes([item]))
    assert keys(conversation.branch()) == ["u1b", "a2b", "u2", "a4"]


def test_chatgpt_whole_export_zip_is_read_through_its_conversations_json(tmp_path: Path):
    path = chatgpt_zip(tmp_path / "export.zip", [chatgpt_branched(), chatgpt_linear("c-2", "Second", 2)])
    with path.open("rb") as file:
        records = list(read_export(file))
    assert [record.title for record in records] == ["Monads explained", "Second"]
    assert keys(records[1].branch()) == ["c-2-0-u", "c-2-0-a", "c-2-1-u", "c-2-1-a"]


def test_a_cycle_or_a_missing_parent_does_not_loop_or_lose_the_rest():
    item = chatgpt_linear("c-3", "Loops", 2)
    mapping = item["mapping"]
    mapping["x1"] = {"id": "x1", "message": None, "parent": "x2", "children": ["x2"]}
    mapping["x2"] = {
        "id": "x2",
        "message": mapping["c-3-0-u"]["message"] | {"id": "x2"},
        "parent": "x1",
        "children": [],
    }
    mapping["c-3-1-u"]["parent"] = "gone"  # the second question's parent is not in the file
    conversation = only(as_bytes([item]))
    assert "x2" not in keys(conversation.messages)
    parents = {message.key: message.parent for message in conversation.messages}
    assert parents["c-3-1-u"] is None and parents["c-3-1-a"] == "c-3-1-u"
    assert keys(conversation.branch()) == ["c-3-1-u", "c-3-1-a"]


# --- Open WebUI ---------------------------------------------------------------------------------------------------


def test_open_webui_keeps_both_replies_and_follows_current_id():
    conversation = only(as_bytes([openwebui_chat()]))
    assert conversation.source == "openwebui"
    assert conversation.source_id == "8d3f4c2e-1b2a-4c5d-9e8f-0a1b2c3d4e5f"
    assert (conversation.title, conversation.model, conversation.system_prompt) == (
        "Primes",
        "llama3.1:8b",
        "Answer with one number.",
    )
    assert sorted(keys(conversation.messages)) == ["m1", "m2", "m3", "m4", "m5"]
    assert keys(conversation.branch()) == ["m1", "m3", "m4", "m5"]
    assert conversation.created_at == datetime.fromtimestamp(int(T0), UTC)
    assert conversation.updated_at == datetime.fromtimestamp(int(T0) + 11, UTC)
    by_key = {message.key: message for message in conversation.messages}
    assert (by_key["m3"].model, by_key["m3"].content) == ("llama3.1:8b", "13")


def test_open_webui_older_exports_the_chat_object_itself_and_the_oldest_only_a_list():
    chat = openwebui_chat()["chat"] | {"id": "legacy-1"}
    conversation = only(as_bytes([chat]))
    assert conversation.source_id == "legacy-1" and keys(conversation.branch()) == ["m1", "m3", "m4", "m5"]
    oldest = {key: value for key, value in chat.items() if key != "history"}
    conversation = only(as_bytes([oldest]))
    assert [message.content for message in conversation.branch()] == ["Name a prime.", "13", "Another?", "17"]


def test_an_export_without_ids_is_known_again_by_its_content():
    chat = openwebui_chat()["chat"]  # its own "id" is empty
    first, second = only(as_bytes([chat])), only(as_bytes([chat]))
    assert first.source_id.startswith("sha256:") and first.source_id == second.source_id


# --- Workbench ----------------------------------------------------------------------------------------------------


def test_workbench_export_of_everything_is_one_branch_in_order_with_its_statuses():
    conversation = only(as_bytes(workbench_export([workbench_conversation(41)])))
    assert (conversation.source, conversation.source_id) == ("workbench", "41")
    assert (conversation.provider, conversation.model, conversation.system_prompt) == (
        "openai",
        "gpt-4o-mini",
        "Be brief.",
    )
    assert keys(conversation.branch()) == ["101", "102", "103", "104"]
    last = conversation.branch()[-1]
    assert (last.status, last.error) == ("interrupted", "Stopped.")
    assert conversation.created_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_workbench_export_with_branches_follows_current_message_id():
    conversation = only(as_bytes(workbench_export([workbench_conversation(42, branched=True)])))
    assert len(conversation.messages) == 5
    assert keys(conversation.branch()) == ["101", "105"]


def test_workbench_export_of_one_conversation_is_read_too():
    conversation = only(as_bytes(workbench_conversation(43)))
    assert conversation.source_id == "43" and len(conversation.branch()) == 4


def test_a_byte_order_mark_and_leading_whitespace_are_fine():
    assert only(b"\xef\xbb\xbf \n" + as_bytes([chatgpt_branched()])).title == "Monads explained"


# --- what cannot be read ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, sentence",
    [
        (b"", "The file is empty."),
        (b"   \n", "The file is empty."),
        (b"Title,Date\nHello,2024-01-01\n", "The file is neither a .zip archive nor JSON."),
        (b'{"name": "not an export"}', "is JSON, but not an export Workbench knows"),
        (b"[1, 2, 3]", "is JSON, but not an export Workbench knows"),
        (b"[" * 1_000_000 + b"]" * 1_000_000, "The file is nested deeper than 256 levels, which no export is."),
        (b'{"user": ' + b"[" * 1_000_000, "The file is nested deeper than 256 levels"),
        (b'[{"title": "x" "y"}]', "The file is not valid JSON (parse error: after key and value"),
        (b'[{"title": "\xff", "mapping": {}}]', "The file is not text in UTF-8."),
        (as_bytes([chatgpt_branched()])[:-40], "The file is cut short: it ends in the middle of the JSON."),
    ],
)
def test_an_unknown_or_damaged_file_is_refused_saying_what_was_expected(data: bytes, sentence: str):
    with pytest.raises(ExportError) as refused:
        read(data)
    assert sentence in str(refused.value)
    assert "Expected ChatGPT's export (conversations.json, or the whole export .zip)" in str(refused.value)


def test_a_file_damaged_past_its_first_conversations_is_refused_after_reading_them():
    data = as_bytes([chatgpt_linear(f"c-{n}", f"Talk {n}", 1) for n in range(3)])
    records = []
    with pytest.raises(ExportError):
        for record in read_export(io.BytesIO(data[:-30])):
            records.append(record)
    assert [record.title for record in records] == ["Talk 0", "Talk 1"]  # the caller rolls these back


def test_a_zip_without_conversations_json_or_a_damaged_zip_is_refused(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/beach.jpg", b"not really")
    with pytest.raises(ExportError, match="The .zip archive has no conversations.json"):
        read(buffer.getvalue())
    data = chatgpt_zip(tmp_path / "export.zip", [chatgpt_branched()]).read_bytes()
    with pytest.raises(ExportError, match="The .zip archive is damaged"):
        read(data[: len(data) // 2])


def test_a_conversation_inside_the_zip_over_the_limit_is_refused_by_its_declared_size(tmp_path: Path):
    path = chatgpt_zip(tmp_path / "export.zip", [chatgpt_linear("c-1", "Long", 50, text_size=2000)])
    with path.open("rb") as file, pytest.raises(ExportError, match="at most 0 MB can be imported at once"):
        list(read_export(file, max_member_bytes=1000))


def test_a_conversation_that_cannot_be_read_is_reported_and_the_others_are_read():
    empty = chatgpt_linear("c-empty", "Nothing said", 0)
    broken = {"title": "Broken", "id": "c-broken", "mapping": ["not", "an", "object"]}
    records = read(as_bytes([chatgpt_branched(), empty, broken, "a string", chatgpt_linear("c-5", "Fine", 1)]))
    assert [type(record) for record in records] == [
        ImportedConversation,
        Unreadable,
        Unreadable,
        Unreadable,
        ImportedConversation,
    ]
    assert (records[1].source_id, records[1].title, records[1].reason) == (
        "c-empty",
        "Nothing said",
        "It has no messages to import.",
    )
    assert records[2].reason == "Its 'mapping' (the messages) is not an object."
    assert records[3].reason == "Item 4 of the file is not a conversation."


def test_read_conversation_tells_the_formats_apart_by_their_shape():
    assert read_conversation(chatgpt_branched()).source == "chatgpt"
    assert read_conversation(openwebui_chat()).source == "openwebui"
    assert read_conversation(workbench_conversation()).source == "workbench"
    assert isinstance(read_conversation({"title": "?"}), Unreadable)


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.most = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.most = max(self.most, self.tell())
        return data


def test_conversations_are_yielded_while_the_file_is_read_not_after_reading_it_whole():
    data = as_bytes([chatgpt_linear(f"c-{n}", f"Talk {n}", 5, text_size=2000) for n in range(200)])
    assert len(data) > 2_000_000
    stream = CountingReader(data)
    records = read_export(stream)
    first = next(records)
    assert first.title == "Talk 0"
    # The first pass (finding the list) and the first conversation read less than a tenth of the file.
    assert stream.most < len(data) / 10
    assert sum(1 for _ in records) == 199


def test_odd_shapes_inside_a_conversation_are_read_or_reported_never_crash():
    nested: object = "deep"
    for _ in range(5000):
        nested = [nested]
    said = {"m1": {"id": "m1", "parentId": None, "role": "user", "content": "Hi", "timestamp": 1}}
    no_id = {"title": "Deep", "history": {"messages": said, "currentId": "m1"}, "models": [], "extra": nested}
    item = openwebui_chat()
    item["chat"]["history"]["messages"]["m5"]["error"] = ["a", "list"]
    chatgpt = chatgpt_linear("c-odd", "Odd", 1)
    chatgpt["mapping"]["c-odd-0-u"]["message"]["content"]["parts"] = "one string, not a list"

    records = [read_conversation(no_id), read_conversation(item), read_conversation(chatgpt)]

    assert isinstance(records[0], Unreadable) and "nested too deeply" in records[0].reason
    last = records[1].branch()[-1]
    assert (last.status, last.error) == ("error", "Failed.")
    assert records[2].branch()[0].content == "one string, not a list"
