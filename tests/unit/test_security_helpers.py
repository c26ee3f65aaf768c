import pytest

from webapp.security import safe_next_url


@pytest.mark.parametrize("target", ["/", "/files/3", "/chat?x=1", "/history#top"])
def test_next_url_within_the_site_is_kept(target):
    assert safe_next_url(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil",
        "javascript:alert(1)",
        "evil.example",
        "/\x00x",
        "http:/evil",
        "",
        None,
        " //evil.example",
    ],
)
def test_next_url_off_the_site_is_ignored(target):
    assert safe_next_url(target) is None
