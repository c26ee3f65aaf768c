"""End to end in Chromium: compare two photos, see the verdict and the boxes, find the result in the history."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.faces import group_photo
from tests.support.photos import test_photo

pytestmark = pytest.mark.e2e


def test_compare_two_photos_see_boxes_and_find_it_in_history(page: Page, live_server, tmp_path):
    base, admin = live_server.url, live_server.admin
    problems: list[str] = []
    # CSP violations and script errors show up as console errors; failed loads are listed by URL instead
    # (the browser's own /favicon.ico request is not ours to answer).
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )

    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password", exact=True).fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".feature-card").get_by_role("link", name="Faces").click()
    expect(page.get_by_role("heading", name="Compare faces")).to_be_visible()

    group = tmp_path / "group.jpg"
    group.write_bytes(group_photo())
    page.get_by_label("Upload the first photo").set_input_files(str(group))
    page.get_by_label("Upload the second photo").set_input_files(str(test_photo("obama2.jpg")))
    button = page.get_by_role("button", name="Compare")
    button.click()

    verdict = page.locator("#face-result h2")
    expect(verdict).to_have_text("Same person", timeout=30_000)
    expect(page.locator("#face-result svg.face-photo")).to_have_count(2)
    expect(page.locator("#face-result rect.face-box")).to_have_count(3)  # two in the group photo, one in the other
    expect(page.locator("#face-result g.face-compared")).to_have_count(2)
    expect(page.locator("#face-result svg.face-crop")).to_have_count(2)
    expect(page.get_by_text(re.compile(r"Model Dlib, detector dlib, cosine distance, \d+ ms"))).to_be_visible()
    # The photo really loads inside the overlay (through the owner-checked route).
    size = page.evaluate("""async () => {
        const href = document.querySelector('#face-result svg.face-photo image').getAttribute('href');
        const response = await fetch(href); return (await response.blob()).size; }""")
    assert size > 10_000

    # Clicking the other face of the group photo compares that face instead.
    page.locator("#face-result g.face-choice").first.click()
    expect(verdict).to_have_text("Different people", timeout=10_000)

    page.locator("#face-result footer").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Faces history")).to_be_visible()
    row = page.locator("tr.history-row").first
    expect(row).to_contain_text("Different people")
    expect(row.locator("img.table-thumbnail")).to_have_count(2)
    row.get_by_role("link").last.click()
    expect(page.locator("h2.verdict")).to_have_text("Different people")
    assert problems == [], problems
