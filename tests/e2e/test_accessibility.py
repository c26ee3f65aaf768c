"""Accessibility: axe-core runs in Chromium on every page of the app, in light and dark colours, with real content
in each (conversations, photos, documents, face results, users); no serious or critical violation is allowed.
Then chat and upload are driven with the keyboard alone (Tab, Enter, Space, typing), the focus visible all along.

The pages are listed by endpoint, and a test checks the list against the app's URL map: a new page that nobody
added here (or to NOT_PAGES, with the reason it is not a page) fails the suite.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from playwright.sync_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select

from tests.support.axe import axe_problems, axe_script
from tests.support.chat import ChatClient, chat_settings, reply_id, reset, stored_message
from tests.support.faces import analyze, compare, result_id
from tests.support.faces import upload as photo_upload
from tests.support.factories import make_conversation, make_project, make_token, make_user
from tests.support.files import rows, upload
from tests.support.samples import jpeg, minimal_pdf
from tests.support.web import csrf_token, give_reason, login
from webapp import create_app
from webapp.chat.service import WINDOW
from webapp.extensions import db
from webapp.governance import service as governance
from webapp.prompts.models import SavedPrompt
from webapp.sharing.models import ConversationShare
from webapp.sharing.service import link_token

pytestmark = pytest.mark.e2e

# Every page a signed-in person can open, by endpoint; an argument naming an object made by `seed` gets its id,
# others are used as they are (several visits of one endpoint check its different contents).
PAGES: list[tuple[str, dict[str, Any]]] = [
    ("dashboard.index", {}),
    ("chat.new_conversation", {}),
    ("chat.conversation", {"conversation_id": "conversation"}),
    ("chat.conversation", {"conversation_id": "branched"}),  # ‹ 2/2 › on an edited question and a regenerated reply
    ("chat.conversation", {"conversation_id": "long"}),  # "Show earlier messages" above its last window
    ("history.index", {}),
    ("history.index", {"q": "sky"}),
    ("projects.index", {}),
    ("projects.detail", {"project_id": "project"}),
    ("chat.new_conversation", {"project": "project"}),
    ("imports.page", {}),
    ("files.index", {}),
    ("files.index", {"view": "list"}),
    ("files.upload_page", {}),
    ("files.detail", {"file_id": "photo"}),
    ("files.detail", {"file_id": "pdf"}),
    ("files.detail", {"file_id": "text"}),
    ("faces.compare_page", {}),
    ("faces.analyze_page", {}),
    ("faces.history", {}),
    ("faces.comparison_detail", {"row_id": "comparison"}),
    ("faces.analysis_detail", {"row_id": "analysis"}),
    ("people.search_page", {}),
    ("people.search_detail", {"row_id": "search"}),
    ("people.people", {}),
    ("people.person", {"person_id": "person"}),
    ("people.unnamed", {}),
    ("auth.account", {}),
    ("auth.tokens", {}),
    ("admin.user_list", {}),
    ("admin.user_detail", {"user_id": "staff"}),
    ("admin.audit_log", {}),
    ("admin.file_list", {}),
    ("chat_admin.index", {}),
    ("chat_admin.conversation", {"conversation_id": "staff_conversation"}),
    ("prompts.index", {}),
    ("prompts.edit", {"prompt_id": "prompt"}),
    ("sharing.manage", {"conversation_id": "conversation"}),
    ("sharing.view", {"share_token": "share_link"}),
    ("sharing_admin.index", {}),
    ("governance.groups", {}),
    ("governance.group", {"group_id": "group"}),
    ("governance.limits", {}),
    ("usage.my_usage", {}),
    ("usage.admin_report", {}),
    ("review.ask", {"kind": "file", "id": "photo"}),  # (a kind named like an object of `seed` would be its id)
]
SIGNED_OUT_PAGES = ["auth.login"]

# GET routes of the page blueprints that are not pages, and why they are not checked here.
NOT_PAGES = {
    "static": "stylesheets, scripts and images",
    "faces.index": "redirects to the compare page",
    "people.index_status": "htmx fragment polled into the search page (the same partial is in it)",
    "faces.comparison_result": "htmx fragment polled into the compare page; the same partial is in the detail page",
    "faces.analysis_result": "htmx fragment polled into the analyse page; the same partial is in the detail page",
    "faces.photo": "image bytes of a face result",
    "faces.thumbnail": "image bytes of a face result",
    "files.picker": "htmx fragment; the same partial is part of the compare and analyse pages",
    "files.download": "the file itself",
    "files.preview": "the file itself, shown inside the file page",
    "files.thumbnail": "image bytes",
    "files.signed_download": "the file itself, through an API link",
    "admin.file_download": "the file itself",
    "admin.file_thumbnail": "image bytes",
    "history.export_markdown": "a download",
    "history.export_json": "a download",
    "history.export_everything": "a download",
    "chat.stream": "server-sent events of a reply",
    "chat.earlier_messages": "htmx fragment of a conversation's earlier messages (without htmx, a redirect to it)",
    "usage.admin_csv": "a download",
    "auth.company_login": "redirects to the company's sign-in page (test_company_sign_in_flow.py)",
    "auth.company_callback": "the company's sign-in sends the browser back here; it redirects on",
}
NOT_PAGE_BLUEPRINTS = {
    "api": "JSON for scripts, described by its own contract",
    "gateway": "the OpenAI-compatible /v1 API for scripts",
}

MARKDOWN_REPLY = """The sky looks **blue** because air scatters short wavelengths more (Rayleigh scattering).

| Colour | Wavelength |
|---|---|
| Blue | ~450 nm |
| Red | ~700 nm |

```python
intensity = 1 / wavelength ** 4
```

See [the Wikipedia article](https://en.wikipedia.org/wiki/Rayleigh_scattering) and `scattering`.
"""


@pytest.fixture
def app_overrides(openai_server):
    reset(openai_server)
    return chat_settings(openai_server)


@pytest.fixture
def axe_context(context: BrowserContext) -> BrowserContext:
    """axe-core in every page of the context, added outside the page's CSP (no bypass: pages run as shipped)."""
    context.add_init_script(path=str(axe_script()))
    return context


def page_endpoints(app: Flask) -> set[str]:
    """Endpoints of every GET route outside the blueprints that are not pages."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint.split(".")[0] not in NOT_PAGE_BLUEPRINTS
    }


def test_every_page_of_the_app_is_in_the_accessibility_check(tmp_path: Path):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'routes.db'}"})
    checked = {endpoint for endpoint, _ in PAGES} | set(SIGNED_OUT_PAGES)
    pages = page_endpoints(app)
    assert pages - checked - NOT_PAGES.keys() == set(), "pages without an accessibility check: add them to PAGES"
    assert checked - pages == set(), "PAGES names endpoints the app does not have"
    assert NOT_PAGES.keys() - pages == set(), "NOT_PAGES names endpoints the app does not have"
    assert checked & NOT_PAGES.keys() == set()


def seed(live_server, openai_server) -> dict[str, int]:
    """Real content through the app's own routes, as the live server's admin and as a staff member."""
    app, admin = live_server.app, live_server.admin
    objects: dict[str, int] = {}
    client = app.test_client()
    login(client, admin.email, admin.password)
    chat = ChatClient(client)
    openai_server.reply = MARKDOWN_REPLY
    objects["project"] = make_project(app, admin, "Physics", instructions="Explain like a teacher.").id
    objects["conversation"], _ = chat.chat("Why is the sky blue?", project_id=objects["project"])
    openai_server.error_status = 500
    failed = chat.send(objects["conversation"], "And sunsets?")
    chat.stream(failed)
    assert stored_message(app, failed).status == "error"  # shown with its reason and a Retry button
    reset(openai_server)
    objects["branched"], reply = chat.chat("Name a colour")
    edited = chat.post(f"/chat/messages/{reply.id - 1}/edit", {"message": "Name a fruit"})
    chat.stream(reply_id(edited))
    chat.stream(reply_id(chat.post(f"/chat/messages/{reply_id(edited)}/regenerate")))
    objects["long"] = make_conversation(app, admin, WINDOW + 4, title="A long one").id

    upload(
        client, ("beach.jpg", jpeg((320, 240))), ("report.pdf", minimal_pdf()), ("notes.txt", b"Plain <b>notes</b>\n")
    )
    names = {stored.original_name: stored.id for stored in rows(app)}
    objects.update(photo=names["beach.jpg"], pdf=names["report.pdf"], text=names["notes.txt"])
    # A question with files attached (chips) and a reply citing one (its sources under it).
    openai_server.reply = "The notes say so [1]."
    cited = chat.post(
        f"/chat/{objects['conversation']}/messages",
        {"message": "What do the notes say?", "file_ids": [str(objects["text"]), str(objects["pdf"])]},
    )
    chat.stream(reply_id(cited))
    reset(openai_server)
    objects["comparison"] = result_id(
        compare(client, photo_upload("obama.jpg"), photo_upload("obama2.jpg")).get_data(as_text=True)
    )
    objects["analysis"] = result_id(analyze(client, photo_upload("biden.jpg")).get_data(as_text=True), "analysis")
    # The library's faces indexed, then a search that finds the other photo of the same person.
    indexing = app.test_cli_runner().invoke(args=["faces", "index"])
    assert indexing.exit_code == 0, indexing.output
    searched = client.post(
        "/faces/search",
        data={"csrf_token": csrf_token(client, "/faces/search"), "file": str(names_now(app)["obama.jpg"])},
        content_type="multipart/form-data",
    )
    assert searched.status_code == 303, searched.get_data(as_text=True)
    objects["search"] = int(searched.headers["Location"].rsplit("/", 1)[1])
    named = client.post(
        "/people/unnamed",
        data={
            "csrf_token": csrf_token(client, "/people/unnamed"),
            "name": "Barack Obama",
            "face_ids": obama_faces(app),
        },
    )
    assert named.status_code == 303, named.get_data(as_text=True)
    objects["person"] = int(named.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    # A saved prompt shared with everyone, and the conversation shared, through their pages.
    response = chat.post("/prompts", {"command": "tldr", "title": "Summary", "text": "Sum up:", "shared": "y"}, False)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert chat.post(f"/chat/{objects['conversation']}/share", {"days": "7"}, htmx=False).status_code == 303
    with app.app_context():
        objects["prompt"] = db.session.scalar(select(SavedPrompt.id))
        objects["share_link"] = link_token(db.session.scalars(select(ConversationShare)).one())

    staff = make_user(app, email="sam@example.com", name="Sam Staff")
    objects["staff"] = staff.id
    make_token(app, staff, "nightly report")
    make_token(app, admin, "deploy script")
    staff_client = app.test_client()
    login(staff_client, staff.email, staff.password)
    staff_chat = ChatClient(staff_client)
    objects["staff_conversation"], draft = staff_chat.chat("Draft a note to the team")
    # Regenerated: the admins' review says the conversation has other branches.
    staff_chat.stream(reply_id(staff_chat.post(f"/chat/messages/{draft.id}/regenerate")))
    # The admin said why, so the review page itself is checked too (the reason form is a page of its own above).
    give_reason(client, "conversation", objects["staff_conversation"])
    # A group with a member, a model list and limits; the admin near their own limit (the chat page's warning).
    runner = app.test_cli_runner()
    for command in (
        ["groups", "create", "Interns"],
        ["groups", "add", "Interns", staff.email],
        ["groups", "models", "Interns", "gpt-4o-mini"],
        ["usage", "limit", "--group", "Interns", "--monthly-tokens", "100000"],
        ["usage", "limit", admin.email, "--monthly-requests", "2"],
    ):
        assert runner.invoke(args=command).exit_code == 0
    with app.app_context():
        objects["group"] = governance.find_group("Interns").id
    return objects


def obama_faces(app: Flask) -> list[str]:
    """The face of obama.jpg in the library (the rest of the library's faces stay unnamed for that page)."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.people.models import Face

    with app.app_context():
        return [
            str(face) for face in db.session.scalars(select(Face.id).where(Face.file_id == names_now(app)["obama.jpg"]))
        ]


def names_now(app: Flask) -> dict[str, int]:
    return {stored.original_name: stored.id for stored in rows(app)}


def check(page: Page, problems: dict[str, list[str]], label: str) -> None:
    """Every axe rule in light colours; then colour contrast again in dark ones (Pico follows the system's scheme;
    no other rule depends on it)."""
    for scheme, rules in (("light", None), ("dark", ["color-contrast"])):
        page.emulate_media(color_scheme=scheme)
        # Colours change through CSS transitions; axe must see where they end, not a colour halfway.
        page.evaluate(
            "() => Promise.all(document.getAnimations()"
            ".filter(animation => animation instanceof CSSTransition).map(animation => animation.finished))"
        )
        found = axe_problems(page, rules)
        if found:
            problems[f"{label} ({scheme})"] = found
    page.emulate_media(color_scheme="light")


def test_no_serious_accessibility_violation_on_any_page(
    axe_context: BrowserContext, page: Page, live_server, openai_server
):
    app = live_server.app
    objects = seed(live_server, openai_server)
    problems: dict[str, list[str]] = {}

    page.goto(f"{live_server.url}/login")
    check(page, problems, "sign-in")
    page.get_by_label("Email").fill(live_server.admin.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, problems, "sign-in, refused")
    page.get_by_label("Password", exact=True).fill(live_server.admin.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    with app.test_request_context():
        urls = [
            url_for(endpoint, **{name: objects.get(value, value) for name, value in args.items()})
            for endpoint, args in PAGES
        ]
    for url in urls:
        response = page.goto(f"{live_server.url}{url}")
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        check(page, problems, url)

    # The composer's attach picker, open.
    page.goto(f"{live_server.url}/chat/{objects['conversation']}")
    page.get_by_text("Attach files").click()
    page.get_by_label(re.compile("notes.txt")).check()
    check(page, problems, "chat with the attach picker open and a file chosen")

    # Open menus and disclosures are checked too: the header's menus, a history row's actions.
    page.goto(f"{live_server.url}/history")
    for summary in page.locator("details > summary").all():
        summary.press("Enter")
    check(page, problems, "history with every menu open")

    response = page.goto(f"{live_server.url}/files/999999")
    assert response is not None and response.status == 404
    check(page, problems, "not-found page")

    assert not problems, "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in problems.items())


# --- the keyboard alone: Tab, Enter, Space and typing; never the mouse ---------------------------------------

FOCUS_RING = """() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    const onScreen = box.right > 0 && box.bottom > 0 && box.left < innerWidth && box.top < innerHeight;
    return {element: element.outerHTML.slice(0, 120), style: style.outlineStyle,
            width: parseFloat(style.outlineWidth), visible: element.checkVisibility() && onScreen};
}"""


def tab_to(page: Page, target: Locator, key: str = "Tab", limit: int = 60) -> int:
    """Press Tab until `target` has the focus (it may have it already: autofocus); every element the focus
    reaches on the way must show a ring. Returns how many presses it took."""
    for presses in range(limit + 1):
        if presses:
            page.keyboard.press(key)
        ring = page.evaluate(FOCUS_RING)
        focused = target.evaluate("element => element === document.activeElement")
        if presses or focused:
            assert ring["visible"] and ring["style"] == "solid" and ring["width"] >= 2, f"focus not visible: {ring}"
        if focused:
            return presses
    raise AssertionError(f"{target} was not reached with {limit} presses of {key}")


def choose_with_space(page: Page, file_input: Locator, files: Path) -> None:
    """Tab to a file input, open its chooser with Space and choose `files`. Playwright turns on catching the
    chooser without waiting for it (fire and forget): waiting starts before the Tabs, whose round trips let it take
    effect before Space is pressed (pressed at once, the chooser was missed once in a loaded CI run)."""
    with page.expect_file_chooser() as chooser:
        tab_to(page, file_input)
        page.keyboard.press("Space")
    chooser.value.set_files(files)


def keyboard_sign_in(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/login")
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(live_server.admin.email)
    page.keyboard.press("Tab")
    page.keyboard.type(live_server.admin.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Hello, {live_server.admin.name}")).to_be_visible()


def follow_link(page: Page, link: Locator) -> None:
    tab_to(page, link)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_chat_with_the_keyboard_alone(axe_context: BrowserContext, page: Page, live_server, openai_server):
    openai_server.reply = "Tides come from the Moon's gravity pulling on the oceans, twice a day on most coasts."
    openai_server.token_delay = 0.1
    keyboard_sign_in(page, live_server)
    follow_link(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat"))
    expect(page.get_by_role("heading", name="New conversation")).to_be_visible()

    tab_to(page, page.get_by_label("Message"))
    page.keyboard.type("Why are there tides?")
    page.keyboard.press("Enter")
    streaming = page.locator(".message-assistant[data-status=pending] .reply-stream")
    expect(streaming).to_contain_text("Tides come from")
    assert axe_problems(page) == []  # the page while a reply is being written: Stop button, typing indicator
    reply = page.locator(".message-assistant[data-status=complete]")
    expect(reply).to_contain_text("twice a day on most coasts.")

    # The first message replaced the whole conversation; the focus is still in the message box, ready for more.
    expect(page.get_by_label("Message")).to_be_focused()
    openai_server.reply = " ".join(f"word{index}" for index in range(200))
    openai_server.token_delay = 0.05
    page.keyboard.type("Count slowly")
    page.keyboard.press("Enter")
    expect(page.locator(".reply-stream")).to_contain_text("word2")
    # Stop is reachable backwards from the message box, and works with Enter.
    tab_to(page, page.get_by_role("button", name="Stop"), key="Shift+Tab")
    page.keyboard.press("Enter")
    stopped = page.locator(".message-assistant[data-status=interrupted]")
    expect(stopped).to_contain_text("The reply was stopped before the end.")
    expect(page.get_by_role("heading", name="Why are there tides?")).to_be_visible()


def test_upload_with_the_keyboard_alone(axe_context: BrowserContext, page: Page, live_server, tmp_path: Path):
    photo = tmp_path / "harbour.jpg"
    photo.write_bytes(jpeg((320, 240)))
    keyboard_sign_in(page, live_server)
    follow_link(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Files"))
    # The skip link is the first stop and jumps over the header: the next Tab is the page's first control.
    assert tab_to(page, page.get_by_role("link", name="Skip to content")) == 1
    page.keyboard.press("Enter")
    upload_button = page.get_by_role("button", name="Upload files")  # a link styled as a button
    assert tab_to(page, upload_button) == 1
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Upload files")).to_be_visible()

    choose_with_space(page, page.get_by_label("Choose files"), photo)
    done = page.locator("#upload-list li.upload-done")
    expect(done).to_have_count(1)
    expect(done.get_by_role("link", name="harbour.jpg")).to_be_visible()
    assert axe_problems(page) == []  # the page with an upload's outcome in it

    # The outcome's link is the next stop after the form: open the file from the keyboard too.
    follow_link(page, done.get_by_role("link", name="harbour.jpg"))
    expect(page.get_by_role("heading", name="harbour.jpg")).to_be_visible()


def test_upload_form_without_javascript_with_the_keyboard_alone(
    browser, browser_context_args, live_server, tmp_path: Path
):
    """Without scripts the form itself posts: choose with Space, Tab to Upload, Enter."""
    notes = tmp_path / "notes.txt"
    notes.write_text("Minutes of the Monday meeting\n")
    context = browser.new_context(**browser_context_args, java_script_enabled=False)
    page = context.new_page()
    try:
        keyboard_sign_in(page, live_server)
        page.goto(f"{live_server.url}/files/upload")
        choose_with_space(page, page.get_by_label("Choose files"), notes)
        tab_to(page, page.get_by_role("button", name="Upload"))
        page.keyboard.press("Enter")
        expect(page.locator("#upload-list li.upload-done").get_by_role("link", name="notes.txt")).to_be_visible()
    finally:
        context.close()
