"""Replies as HTML: Markdown rendered by markdown-it-py, then sanitised by nh3.

Models write whatever they are asked to (or tricked into): raw HTML in a reply is shown as text, and the
sanitiser keeps only formatting tags, so no script, event handler or `javascript:` link survives.
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache

import nh3
from cachetools import LRUCache
from markdown_it import MarkdownIt
from markupsafe import Markup

from webapp.units import MEGABYTE

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    # "language-python" on fenced code blocks; harmless, and useful to a highlighter later.
    "code": {"class"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML off: `<script>` in a reply becomes the visible text "<script>".
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


# Rendered replies by a digest of their text, up to this many characters of HTML in each process: a long
# conversation is rendered once, not on every view (rendering is most of such a page's time). The key holds no
# copy of the text, and text that changes (a reply still streaming, an edit) gets a new key.
RENDERED_CACHE_CHARS = 32 * MEGABYTE  # characters: about 32 MB of HTML
_rendered: LRUCache[bytes, Markup] = LRUCache(maxsize=RENDERED_CACHE_CHARS, getsizeof=len)
_rendered_lock = threading.Lock()  # cachetools' caches are not thread-safe; gthread workers serve in threads


def render_markdown(text: str) -> Markup:
    """Return safe HTML for a reply's Markdown (from the cache when this text was rendered before)."""
    text = text or ""
    key = hashlib.blake2b(text.encode(), digest_size=16).digest()
    with _rendered_lock:
        html = _rendered.get(key)
    if html is None:
        html = _render(text)
        if len(html) <= RENDERED_CACHE_CHARS // 16:  # one huge reply must not push out all the others
            with _rendered_lock:
                _rendered[key] = html
    return html


def _render(text: str) -> Markup:
    html = _parser().render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(clean)
