"""End to end in Chromium: import a ChatGPT export with its progress shown, find the conversations in the history
and open one; import the same file again and nothing new is added; a file that is no export is refused in the
page, saying what was expected."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.exports import as_bytes, chatgpt_branched, chatgpt_linear
from tests.support.pages import sign_in_as_admin
from webapp.imports.service import HAS_TREE

pytestmark = pytest.mark.e2e


def choose_and_import(page: Page, path: Path) -> None:
    page.locator("#file").set_input_files(path)
    page.get_by_role("button", name="Import").click()


def test_import_a_chatgpt_export_see_it_in_history_and_import_it_again_without_duplicates(
    page: Page, live_server, tmp_path: Path
):
    base = live_server.url
    export = tmp_path / "conversations.json"
    talks = [chatgpt_linear(f"c-{n}", f"Imported talk {n}", 4, text_size=30_000) for n in range(5)]
    export.write_bytes(as_bytes([chatgpt_branched(), *talks]))  # about 1.2 MB
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    sign_in_as_admin(page, live_server)
    page.goto(f"{base}/history")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import conversations")).to_be_visible()
    # A slow uplink (about 300 KB/s), so the progress can be seen moving.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 300 * 1024},
    )

    choose_and_import(page, export)

    page.wait_for_function(
        "() => { const bar = document.getElementById('import-bar'); return bar.value > 0 && bar.value < 100; }",
        timeout=15_000,
    )
    expect(page.locator("#import-progress-text")).to_have_text(re.compile(r"^Uploading conversations\.json: \d+%$"))
    expect(page.locator("#import-done")).to_contain_text("Imported 6 conversations from ChatGPT.", timeout=60_000)
    expect(page.locator("#import-progress")).to_be_hidden()
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    page.get_by_role("link", name="See them in your history").click()
    expect(page.get_by_role("link", name="Imported talk 4")).to_be_visible()
    page.get_by_role("link", name="Monads explained").click()
    shown = page.locator(".message-text")
    expect(shown.filter(has_text="Here it is:")).to_be_visible()
    expect(shown.filter(has_text="What is a monad, simply?")).to_be_visible()
    if HAS_TREE:
        # The first question was edited in ChatGPT: its first version is kept as a branch, one step away.
        expect(shown.filter(has_text=re.compile(r"^What is a monad\?$"))).to_have_count(0)
        expect(page.get_by_text("Version 2 of 2").first).to_be_attached()

    page.goto(f"{base}/import")
    choose_and_import(page, export)
    expect(page.locator("#import-done")).to_contain_text("No new conversations imported.", timeout=30_000)
    expect(page.locator("#import-done")).to_contain_text("6 were already here from an earlier import.")

    notes = tmp_path / "notes.txt"
    notes.write_text("not an export\n")
    choose_and_import(page, notes)
    expect(page.get_by_role("alert")).to_contain_text("The file is neither a .zip archive nor JSON.")
    expect(page.get_by_role("alert")).to_contain_text("Expected ChatGPT's export")
    assert not [error for error in console_errors if "Content Security Policy" in error], console_errors
