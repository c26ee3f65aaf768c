"""Files in chat, end to end through the API and the pages: what reached the model (the excerpts, numbered, the
image part), what was kept as the reply's sources, and the refusals (another user's file, an image for a model that
cannot see)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image
from sqlalchemy import select, text

from tests.support.chat import BEDROCK_MODEL, ChatClient, chat_settings, reset, stored_counts
from tests.support.documents import csv_text, pdf_with_text, pdf_without_text
from tests.support.factories import make_file
from tests.support.samples import jpeg
from tests.support.web import bearer, give_reason
from webapp.attachments import service as attachments
from webapp.attachments.models import FilePassage, MessageSource
from webapp.extensions import db

OTTERS = "River otters hold hands while they sleep so they do not drift apart."
LONG_PAGES = [f"Chapter {n}. " + ("The harbour ledger lists cargo, tides and crews. " * 40) for n in range(1, 61)]
LONG_PAGES[41] = "Chapter 42. The lighthouse keeper kept seventeen cats named after planets. " + LONG_PAGES[41]


@pytest.fixture
def app_overrides(openai_server, bedrock_server):
    reset(openai_server)
    reset(bedrock_server)
    return chat_settings(
        openai_server,
        bedrock_server,
        OPENAI_VISION_MODELS="gpt-4o",
        BEDROCK_VISION_MODELS=BEDROCK_MODEL,
        CHAT_IMAGE_MAX_SIDE=100,
        CHAT_CONTEXT_CHARS=20_000,
    )


@pytest.fixture
def api(client, staff_token):
    def call(body):
        return client.post("/api/chat", json=body, headers=bearer(staff_token))

    return call


def system_text(request_body) -> str:
    return request_body["messages"][0]["content"] if request_body["messages"][0]["role"] == "system" else ""


def test_a_short_file_goes_to_the_model_whole_numbered_to_be_cited(app, api, staff, openai_server):
    notes = make_file(app, staff, name="otters.txt", content=f"Animal facts\n\n{OTTERS}\n".encode())

    response = api({"message": "What do otters do at night?", "file_ids": [notes.id]})

    assert response.status_code == 200, response.get_json()
    system = system_text(openai_server.last_request.body)
    assert "cite every excerpt you use by its number in square brackets" in system
    assert f"[1] otters.txt, lines 1–3:\nAnimal facts\n\n{OTTERS}" in system
    assert openai_server.last_request.body["messages"][-1] == {"role": "user", "content": "What do otters do at night?"}
    sources = response.get_json()["sources"]
    assert sources == [
        {
            "number": 1,
            "file_id": notes.id,
            "file_name": "otters.txt",
            "locator": "lines 1–3",
            "excerpt": f"Animal facts {OTTERS}",
        }
    ]


@pytest.mark.both_databases
def test_a_long_pdf_gives_the_passages_that_rank_best_within_the_budget(app, api, staff, openai_server):
    book = make_file(app, staff, name="harbour.pdf", content=pdf_with_text(LONG_PAGES))

    response = api({"message": "What were the lighthouse keeper's cats named after?", "file_ids": [book.id]})

    assert response.status_code == 200, response.get_json()
    system = system_text(openai_server.last_request.body)
    assert (
        "[1] harbour.pdf, page 42:\nChapter 42. The lighthouse keeper kept seventeen cats named after planets."
        in system
    )
    assert len(system) <= 20_000 * 0.75 + 1000
    assert "Chapter 1." not in system  # the rest of the book is not sent
    assert response.get_json()["sources"][0]["locator"] == "page 42"


def test_a_question_with_no_word_in_a_long_file_gets_its_opening(app, api, staff, openai_server):
    book = make_file(app, staff, name="harbour.pdf", content=pdf_with_text(LONG_PAGES))

    response = api({"message": "Summarise this", "file_ids": [book.id]})

    assert response.status_code == 200
    assert "[1] harbour.pdf, page 1:\nChapter 1." in system_text(openai_server.last_request.body)


def test_a_csv_reaches_the_model_as_a_table(app, api, staff, openai_server):
    sheet = make_file(
        app, staff, name="rain.csv", content=csv_text(["city", "rain_mm"], [["Oslo", 760], ["Bergen", 2250]])
    )

    api({"message": "Which city is wettest?", "file_ids": [sheet.id]})

    assert (
        "[1] rain.csv, rows 2–3:\n| city | rain_mm |\n| --- | --- |\n| Oslo | 760 |\n| Bergen | 2250 |"
        in system_text(openai_server.last_request.body)
    )


def test_a_scanned_pdf_is_named_to_the_model_and_on_its_chip_and_the_message_still_sends(
    app, api, staff, openai_server, staff_client
):
    scan = make_file(app, staff, name="scan.pdf", content=pdf_without_text())

    response = api({"message": "What does the scan say?", "file_ids": [scan.id]})

    assert response.status_code == 200
    system = system_text(openai_server.last_request.body)
    assert "(The file scan.pdf was attached but cannot be read: This PDF has no text layer" in system
    assert response.get_json()["sources"] == []
    page = staff_client.get(f"/chat/{response.get_json()['conversation_id']}").get_data(as_text=True)
    assert "scan.pdf" in page and "This PDF has no text layer (it looks like a scan)" in page


def test_files_stay_with_the_conversation_for_the_next_questions(app, api, staff, openai_server):
    notes = make_file(app, staff, name="otters.txt", content=f"{OTTERS}\n".encode())
    first = api({"message": "Tell me about otters", "file_ids": [notes.id]}).get_json()

    second = api({"message": "And while sleeping?", "conversation_id": first["conversation_id"]})

    assert second.status_code == 200
    assert OTTERS in system_text(openai_server.last_request.body)
    assert second.get_json()["sources"][0]["file_name"] == "otters.txt"


def test_another_users_file_is_a_404_and_nothing_is_stored(app, api, other_staff, openai_server):
    theirs = make_file(app, other_staff, name="theirs.txt", content=b"Not yours\n")

    response = api({"message": "Read this", "file_ids": [theirs.id]})

    assert response.status_code == 404
    assert stored_counts(app) == (0, 0)
    assert openai_server.requests == []


def test_a_photo_goes_to_a_model_that_sees_as_a_downscaled_data_url(app, api, staff, openai_server):
    photo = make_file(app, staff, name="big.jpg", content=jpeg((640, 320)))
    openai_server.reply = "A picture."

    response = api({"message": "What is in this photo?", "file_ids": [photo.id], "model": "openai:gpt-4o"})

    assert response.status_code == 200, response.get_json()
    question = openai_server.last_request.body["messages"][-1]
    assert question["role"] == "user"
    text, image = question["content"]
    assert text == {"type": "text", "text": "What is in this photo?"}
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(image["image_url"]["url"].split(",", 1)[1])))
    assert sent.size == (100, 50)


def test_a_photo_goes_to_bedrock_as_an_image_block(app, api, staff, bedrock_server):
    photo = make_file(app, staff, name="small.jpg", content=jpeg((64, 48)))

    response = api({"message": "Describe it", "file_ids": [photo.id], "model": f"bedrock:{BEDROCK_MODEL}"})

    assert response.status_code == 200, response.get_json()
    blocks = bedrock_server.last_request.body["messages"][-1]["content"]
    assert blocks[0] == {"text": "Describe it"}
    assert blocks[1]["image"]["format"] == "jpeg"
    assert base64.b64decode(blocks[1]["image"]["source"]["bytes"])[:3] == b"\xff\xd8\xff"


def test_a_photo_for_a_model_that_cannot_see_is_refused_before_anything_is_sent(app, api, staff, openai_server):
    photo = make_file(app, staff, photo=True)

    response = api({"message": "What is this?", "file_ids": [photo.id], "model": "openai:gpt-4o-mini"})

    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "The model gpt-4o-mini does not accept images, so nothing was sent. "
        f"Choose one that does: openai:gpt-4o, bedrock:{BEDROCK_MODEL}."
    )
    assert stored_counts(app) == (0, 0)
    assert openai_server.requests == []


def test_the_citation_numbers_of_a_reply_link_to_its_sources_on_the_page(app, staff, staff_client, openai_server):
    notes = make_file(app, staff, name="otters.txt", content=f"{OTTERS}\n".encode())
    openai_server.reply = "They hold hands [1]."
    chat = ChatClient(staff_client)

    response = chat.post("/chat", {"message": "Otters?", "file_ids": [str(notes.id)]})
    assert response.status_code == 201, response.get_data(as_text=True)
    conversation_id = int(response.headers["HX-Push-Url"].rsplit("/", 1)[1])
    page = staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    reply_id = int(page.split('sse-connect="/chat/messages/')[1].split("/")[0])
    events = chat.stream(reply_id)

    done = [event.data for event in events if event.name == "done"][0]
    assert f'<a href="#source-{reply_id}-1" class="citation">[1]</a>' in done
    assert f'id="source-{reply_id}-1"' in done and f'href="/files/{notes.id}"' in done
    assert "otters.txt" in done and "line 1" in done
    history = staff_client.get(f"/chat/{conversation_id}").get_data(as_text=True)
    assert f'id="source-{reply_id}-1"' in history


def test_sources_are_in_the_export_and_the_admin_review(app, api, staff, admin_client, staff_client, openai_server):
    notes = make_file(app, staff, name="otters.txt", content=f"{OTTERS}\n".encode())
    openai_server.reply = "They hold hands [1]."
    body = api({"message": "Otters?", "file_ids": [notes.id]}).get_json()

    exported = json.loads(staff_client.get(f"/history/{body['conversation_id']}/export.json").get_data(as_text=True))
    give_reason(admin_client, "conversation", body["conversation_id"])
    review = admin_client.get(f"/admin/history/{body['conversation_id']}").get_data(as_text=True)

    question, reply = exported["messages"]
    assert question["files"] == [{"file_id": notes.id, "file_name": "otters.txt", "kind": "document", "problem": None}]
    assert reply["sources"][0]["file_name"] == "otters.txt" and reply["sources"][0]["locator"] == "line 1"
    assert "otters.txt" in review and f'id="source-{body["message_id"]}-1"' in review


def test_deleting_a_conversation_removes_its_attachments_and_sources(app, api, staff, staff_token, client):
    notes = make_file(app, staff, name="otters.txt", content=f"{OTTERS}\n".encode())
    body = api({"message": "Otters?", "file_ids": [notes.id]}).get_json()

    client.delete(f"/api/conversations/{body['conversation_id']}", headers=bearer(staff_token))

    with app.app_context():
        assert db.session.scalars(select(MessageSource)).all() == []
        assert attachments.conversation_files(body["conversation_id"], 10**6) == []


@pytest.mark.both_databases
def test_words_found_nearly_everywhere_are_left_out_of_a_large_search(app, staff, monkeypatch):
    from webapp.attachments import search

    monkeypatch.setattr(search, "FILTER_FROM", 10)
    monkeypatch.setitem(search._statistics, "at", -search.STATISTICS_SECONDS)
    monkeypatch.setitem(search._sqlite_total, "at", -search.STATISTICS_SECONDS)
    common = [
        make_file(app, staff, name=f"log{n}.txt", content=f"Harbour log {n}: calm water.\n".encode()) for n in range(60)
    ]
    keeper = make_file(app, staff, name="keeper.txt", content=b"Harbour log: the lighthouse keeper's cats.\n")
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE file_passages"))
            db.session.commit()
        ids = [stored.id for stored in common] + [keeper.id]

        found = search.rank(ids, "harbour lighthouse", limit=50)
        unfiltered = search.rank(ids, "harbour lighthouse", limit=50, passages=0)

        keeper_passage = db.session.scalar(select(FilePassage.id).where(FilePassage.file_id == keeper.id))
        assert found == [keeper_passage]  # "harbour" is in every passage: ranking reads only the keeper's
        assert unfiltered[0] == keeper_passage and len(unfiltered) == 50


@pytest.mark.both_databases
def test_when_every_word_is_common_the_passages_with_the_rarest_are_ranked_by_the_two_rarest(app, staff, monkeypatch):
    from webapp.attachments import search

    monkeypatch.setattr(search, "FILTER_FROM", 10)
    monkeypatch.setitem(search._statistics, "at", -search.STATISTICS_SECONDS)
    monkeypatch.setitem(search._sqlite_total, "at", -search.STATISTICS_SECONDS)
    logs = [
        make_file(app, staff, name=f"log{n}.txt", content=f"Harbour log {n}: calm water.\n".encode()) for n in range(30)
    ]
    turned = [
        make_file(app, staff, name=f"turn{n}.txt", content=f"Harbour log {n}: the tide turned.\n".encode())
        for n in range(5)
    ]
    tables = [
        make_file(app, staff, name=f"tide{n}.txt", content=f"Tide table {n}: high water at noon.\n".encode())
        for n in range(5)
    ]
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE file_passages"))
            db.session.commit()
        passage = {
            stored.id: db.session.scalar(select(FilePassage.id).where(FilePassage.file_id == stored.id))
            for stored in logs + turned + tables
        }

        # "tide" (10 of 40 passages) and "harbour" (35) are both common: the rarer is named second, and still leads.
        found = search.rank(list(passage), "harbour tide", limit=50)

        assert set(found) == {passage[stored.id] for stored in turned + tables}  # none with "harbour" alone
        if db.engine.dialect.name == "postgresql":  # ts_rank: both words above one, however often
            assert set(found[:5]) == {passage[stored.id] for stored in turned}


def test_a_projects_files_are_searched_for_every_conversation_in_it(app, api, staff, staff_client, openai_server):
    from tests.support.factories import make_project
    from tests.support.web import csrf_token

    project = make_project(app, staff, "Harbour")
    rules = make_file(app, staff, name="rules.txt", content=b"Kayaks keep to the east side of the breakwater.\n")
    token = csrf_token(staff_client, f"/projects/{project.id}")

    added = staff_client.post(f"/projects/{project.id}/files", data={"csrf_token": token, "file_ids": [rules.id]})
    page = staff_client.get(f"/projects/{project.id}").get_data(as_text=True)
    first = api({"message": "Where do kayaks go?", "project_id": project.id})
    second = api({"message": "And the breakwater?", "project_id": project.id})

    assert added.status_code == 303 and "rules.txt" in page
    assert first.status_code == 200 and second.status_code == 200
    assert "[1] rules.txt, line 1:\nKayaks keep to the east side of the breakwater." in system_text(
        openai_server.last_request.body
    )
    assert second.get_json()["sources"][0]["file_name"] == "rules.txt"


def test_another_users_project_or_file_cannot_be_used_for_project_files(app, staff, other_staff, staff_client):
    from tests.support.factories import make_project
    from tests.support.web import csrf_token

    mine = make_project(app, staff, "Mine")
    theirs = make_project(app, other_staff, "Theirs")
    my_file = make_file(app, staff, name="mine.txt", content=b"mine\n")
    their_file = make_file(app, other_staff, name="theirs.txt", content=b"theirs\n")
    token = csrf_token(staff_client, f"/projects/{mine.id}")

    into_theirs = staff_client.post(
        f"/projects/{theirs.id}/files", data={"csrf_token": token, "file_ids": [my_file.id]}
    )
    their_file_in_mine = staff_client.post(
        f"/projects/{mine.id}/files", data={"csrf_token": token, "file_ids": [their_file.id]}
    )

    assert into_theirs.status_code == 404 and their_file_in_mine.status_code == 404
    with app.app_context():
        assert attachments.project_files(mine.id, staff.id) == []
