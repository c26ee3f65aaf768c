"""End to end in Chromium: upload two photos with progress shown, see their thumbnails, open one, download
it, delete it; and a file over the limit is refused in the page."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.pages import sign_in_as_admin
from tests.support.samples import encode, picture

pytestmark = pytest.mark.e2e


def loaded(page: Page, selector: str) -> bool:
    return page.eval_on_selector_all(
        selector, "images => images.length > 0 && images.every(image => image.complete && image.naturalWidth > 0)"
    )


def test_upload_two_photos_see_thumbnails_open_download_and_delete(page: Page, live_server, tmp_path: Path):
    base = live_server.url
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    beach, forest = tmp_path / "beach.jpg", tmp_path / "forest.jpg"
    beach.write_bytes(encode(picture((640, 480)), "JPEG", quality=95))
    forest.write_bytes(encode(picture((480, 640)), "JPEG", quality=95))

    sign_in_as_admin(page, live_server)
    page.goto(f"{base}/files/upload")
    # A slow uplink (about 150 KB/s), so each file's progress can be seen moving.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 150 * 1024},
    )

    page.locator("#file").set_input_files([beach, forest])

    expect(page.locator("#upload-list li")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#upload-list progress')].some(bar => bar.value > 0 && bar.value < 100)",
        timeout=15_000,
    )
    expect(page.locator("#upload-list .upload-status").first).to_have_text(re.compile(r"^(\d+%|Checking…|Waiting…)$"))
    expect(page.locator("#upload-list li.upload-done")).to_have_count(2, timeout=30_000)
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    for name in ("beach.jpg", "forest.jpg"):
        expect(page.locator("#upload-list").get_by_role("link", name=name).locator("img")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#upload-list img')]"
        ".every(image => image.complete && image.naturalWidth > 0)"
    )

    page.get_by_role("link", name="Go to your library").click()
    expect(page.locator(".file-grid .file-card")).to_have_count(2)
    assert loaded(page, ".file-grid img")
    page.get_by_role("link", name="beach.jpg").click()
    expect(page.get_by_role("heading", name="beach.jpg")).to_be_visible()
    expect(page.locator(".file-preview img")).to_be_visible()
    assert loaded(page, ".file-preview img")
    expect(page.get_by_text("640 × 480 pixels")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "beach.jpg"
    assert Path(download.path()).read_bytes() == beach.read_bytes()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted “beach.jpg”.")).to_be_visible()
    expect(page.locator(".file-grid .file-card")).to_have_count(1)
    expect(page.get_by_role("link", name="forest.jpg")).to_be_visible()
    assert not [error for error in console_errors if "Content Security Policy" in error], console_errors


@pytest.fixture
def app_overrides():
    return {"MAX_UPLOAD_MB": 1}


def test_file_over_the_limit_is_refused_in_the_upload_page(page: Page, live_server, tmp_path: Path):
    base = live_server.url
    big, small = tmp_path / "big.pdf", tmp_path / "small.txt"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024) + b"\n%%EOF\n")
    small.write_text("still uploaded\n")

    sign_in_as_admin(page, live_server)
    page.goto(f"{base}/files/upload")
    page.locator("#file").set_input_files([big, small])

    expect(page.get_by_role("alert")).to_have_text("big.pdf was not uploaded. This file is larger than the 1 MB limit.")
    expect(page.locator("#upload-list li.upload-done")).to_have_count(1)
    expect(page.locator("#upload-list").get_by_text("small.txt")).to_be_visible()
