"""End to end in Chromium: search the library by face, choose another face, find the search in the history, and
name a suggested group of unnamed faces."""

import pytest
from playwright.sync_api import Page, expect

from tests.support.faces import group_photo, photo_bytes
from tests.support.factories import make_file
from tests.support.photos import test_photo

pytestmark = pytest.mark.e2e


def test_search_the_library_by_face_choose_another_face_and_name_a_suggested_group(page: Page, live_server):
    base, admin, app = live_server.url, live_server.admin, live_server.app
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    obama = make_file(app, admin, name="obama.jpg", content=photo_bytes("obama.jpg")).id
    biden = make_file(app, admin, name="biden.jpg", content=photo_bytes("biden.jpg")).id
    make_file(app, admin, name="group.jpg", content=group_photo())
    assert app.test_cli_runner().invoke(args=["faces", "index"]).exit_code == 0

    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password", exact=True).fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/faces/compare")
    page.get_by_role("navigation", name="Faces").get_by_role("link", name="Search").click()
    expect(page.get_by_role("heading", name="Search by face")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Faces indexed in 3 of 3 photos")).to_be_visible()

    page.get_by_label("Upload a photo").set_input_files(str(test_photo("obama2.jpg")))
    page.get_by_role("button", name="Search").click()
    result = page.locator("#search-result")
    expect(result.get_by_role("heading", name="2 photos with this person")).to_be_visible(timeout=30_000)
    matches = result.locator("li.search-match")
    expect(matches).to_have_count(2)
    expect(matches.locator("g.face-compared rect.face-box")).to_have_count(2)  # the matching face boxed in each
    assert str(obama) in [match.get_attribute("data-file") for match in matches.all()]
    expect(matches.first.get_by_text("against the threshold")).to_be_visible()

    # The group photo from the library, its second face (Biden) searched for instead of the largest.
    page.reload()
    page.locator("label.picker-option", has_text="group.jpg").click()
    page.get_by_role("button", name="Search").click()
    # Obama: obama.jpg and the photo searched with first (now in the library too).
    expect(result.get_by_role("heading", name="2 photos with this person")).to_be_visible(timeout=30_000)
    result.get_by_role("button", name="Face 2").click()
    expect(result.locator("li.search-match")).to_have_count(1, timeout=30_000)
    expect(result.locator("li.search-match")).to_have_attribute("data-file", str(biden))

    result.get_by_role("link", name="History").click()
    expect(page.locator("tr.history-row[data-kind='search']")).to_have_count(3)

    # People → Unnamed faces: Obama's three faces make the first suggested group; naming it makes him a person.
    page.get_by_role("navigation", name="Faces").get_by_role("link", name="People").click()
    page.get_by_role("link", name="Unnamed faces").click()
    group = page.locator("section.face-group").first
    expect(group.get_by_role("heading")).to_have_text("Suggested person 1: 3 faces")
    group.get_by_label("Name").fill("Barack Obama")
    group.get_by_role("button", name="Name this person").click()
    expect(page.get_by_role("heading", name="Barack Obama", level=1)).to_be_visible()
    expect(page.get_by_text("3 photos, 3 faces.")).to_be_visible()
    expect(page.locator("li.search-match")).to_have_count(3)
    page.get_by_role("navigation", name="Faces").get_by_role("link", name="People").click()
    expect(page.locator("article.person-card")).to_have_count(1)
    expect(page.locator("article.person-card svg.face-crop")).to_have_count(1)
    assert problems == []
