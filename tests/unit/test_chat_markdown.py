"""Replies render as Markdown, and nothing executable survives, whatever the model writes."""

import uuid

import pytest

from webapp.chat.markdown import RENDERED_CACHE_CHARS, render_markdown


def test_markdown_renders_emphasis_lists_tables_and_fenced_code():
    html = render_markdown(
        "**bold** and `code`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('hi')\n```"
    )
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<li>one</li>" in html and "<td>1</td>" in html
    assert "<pre><code class=\"language-python\">print('hi')\n</code></pre>" in html


@pytest.mark.parametrize(
    "hostile, forbidden",
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ('<a href="https://x.example" onclick="alert(1)">x</a>', "<a "),
        ("[x](javascript:alert(1))", 'href="javascript'),
        ("[x](JaVaScRiPt:alert(1))", "href="),
        ("<javascript:alert(1)>", "href="),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", "href="),
        ("<iframe src=https://x.example></iframe>", "<iframe"),
        ("<style>body{display:none}</style>", "<style"),
    ],
)
def test_hostile_markup_is_shown_as_text_not_run(hostile, forbidden):
    html = render_markdown(hostile)
    assert forbidden not in html.lower()


def test_links_keep_safe_schemes_and_get_rel():
    html = render_markdown("[docs](https://example.com/a?b=1) [mail](mailto:a@example.com)")
    assert '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">docs</a>' in html
    assert 'href="mailto:a@example.com"' in html


def test_code_keeps_angle_brackets_visible():
    html = render_markdown("```html\n<script>x()</script>\n```")
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "<script" not in html


def test_the_same_text_is_rendered_once_then_taken_from_the_cache():
    text = f"**cached** reply {uuid.uuid4()}"
    first = render_markdown(text)
    assert render_markdown(text) is first  # the very same object: not rendered again
    changed = render_markdown(text + " and more")  # new text (a reply still streaming, an edit): rendered anew
    assert changed is not first and changed.startswith("<p><strong>cached</strong>") and "and more" in changed


def test_a_reply_too_large_for_the_cache_is_still_rendered():
    text = "word " * (RENDERED_CACHE_CHARS // 16)
    assert render_markdown(text).startswith("<p>word word")
