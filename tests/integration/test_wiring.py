"""One way to wire a feature: every feature package has `init_app(app)`, `create_app` lists every one of them, and
links are built with url_for, never written out, so a moved route cannot leave a dead link behind."""

from __future__ import annotations

import ast
import re
import sys
from importlib import import_module

from flask import Blueprint, Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from config import BASE_DIR
from webapp import FEATURES
from webapp.bounds import DatabaseIdConverter

WEBAPP = BASE_DIR / "webapp"
TEMPLATES = BASE_DIR / "templates"

# An attribute whose value is a URL, starting with "/" (an internal path) or "//" (another host, same scheme).
URL_ATTRIBUTE = re.compile(
    r"""\b(href|src|action|formaction|hx-(?:get|post|put|patch|delete)|sse-connect|data-[\w-]*url)\s*=\s*["']\s*/""",
    re.IGNORECASE,
)


def packages_defining_blueprints() -> set[str]:
    return {
        path.relative_to(WEBAPP).parts[0]
        for path in WEBAPP.rglob("*.py")
        if len(path.relative_to(WEBAPP).parts) > 1 and "Blueprint(" in path.read_text()
    }


def test_every_package_with_pages_is_a_feature_that_create_app_lists():
    assert packages_defining_blueprints() <= set(FEATURES)


def test_every_feature_package_wires_itself_with_init_app():
    for name in FEATURES:
        package = import_module(f"webapp.{name}")
        assert callable(getattr(package, "init_app", None)), f"webapp.{name} has no init_app(app)"


def test_create_app_registers_every_blueprint_the_features_define(app: Flask):
    defined = {
        (module.__name__, attribute): value
        for module in list(sys.modules.values())
        if (module.__name__ or "").startswith("webapp.")
        for attribute, value in vars(module).items()
        if isinstance(value, Blueprint)
    }
    assert defined, "no blueprint found: the feature packages were not imported"
    for (module, attribute), blueprint in defined.items():
        assert app.blueprints.get(blueprint.name) is blueprint, f"{module}.{attribute} is not registered"


def test_every_id_in_a_url_stops_at_what_an_id_column_holds(app: Flask):
    # The converter is installed before the features register their routes; a rule made earlier keeps werkzeug's.
    unbounded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        for name, converter in rule._converters.items()
        if rule.rule.count(f"<int:{name}>") and not isinstance(converter, DatabaseIdConverter)
    ]
    assert unbounded == []


def test_each_feature_puts_its_card_and_activity_on_the_dashboard_in_create_apps_order(app: Flask):
    assert list(app.extensions["dashboard_cards"]) == ["chat", "history", "files", "faces"]
    assert list(app.extensions["dashboard_activity"]) == ["chat", "files", "faces"]


def test_templates_build_internal_links_with_url_for():
    written_out = [
        f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if URL_ATTRIBUTE.search(line)
    ]
    assert written_out == []


def test_the_template_check_finds_a_written_out_link():
    assert URL_ATTRIBUTE.search('<a href="/chat">Chat</a>')
    assert URL_ATTRIBUTE.search("<form hx-post='/files/upload'>")
    assert not URL_ATTRIBUTE.search("<a href=\"{{ url_for('chat.new_conversation') }}\">Chat</a>")


def string_literals_outside_routes(source: str) -> list[tuple[int, str]]:
    """String constants that are not a docstring, a route's rule or a blueprint's url_prefix."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skipped.update(id(inner) for decorator in node.decorator_list for inner in ast.walk(decorator))
        if isinstance(node, ast.keyword) and node.arg == "url_prefix":
            skipped.add(id(node.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    ]


def is_internal_url(app: Flask, text: str) -> bool:
    """Does `text` name one of the app's pages (or redirect to one)? A lone "/" is a path separator, not a link."""
    if len(text) < 2 or not text.startswith("/") or text.startswith("//") or any(c.isspace() for c in text):
        return False
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(text.split("?")[0], method="GET")
    except (RequestRedirect, MethodNotAllowed):
        return True
    except NotFound:
        return False
    return True


def test_python_builds_internal_urls_with_url_for(app: Flask):
    written_out = [
        f"{path.relative_to(BASE_DIR)}:{line}: {text!r}"
        for path in sorted(WEBAPP.rglob("*.py"))
        for line, text in string_literals_outside_routes(path.read_text())
        if is_internal_url(app, text)
    ]
    assert written_out == []


def test_the_python_check_finds_a_written_out_url(app: Flask):
    source = '"""/chat in a docstring is prose."""\n@bp.get("/files")\ndef page():\n    return redirect("/files")\n'
    assert string_literals_outside_routes(source) == [(4, "/files")]
    assert is_internal_url(app, "/files")  # answered by a redirect to /files/
    assert is_internal_url(app, "/chat")
    assert not is_internal_url(app, "/api/")


def test_every_link_on_the_dashboard_opens_a_page_without_a_redirect(app: Flask, staff_client):
    page = staff_client.get("/").get_data(as_text=True)
    links = set(re.findall(r'href="(/[^"#]*)"', page))
    assert {"/chat", "/history", "/files/", "/faces/compare"} <= links
    adapter = app.url_map.bind("localhost")
    for link in links:
        if not link.startswith("/static/"):
            adapter.match(link.split("?")[0], method="GET")  # raises RequestRedirect for "/files"
