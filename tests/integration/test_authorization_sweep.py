"""Authorization sweep: every route with an object in its URL, read from the app's URL map, tried by a stranger.

A second staff user gets 404 for every object of the first (403 on admin-only pages), through every method the
route accepts, with a valid CSRF token (and their own bearer token on the API), and nothing of the first user's
changes. An admin reaches only the admin views declared in SWEEP, and gets 404 elsewhere. The owner reaches every
route, which proves each request names a real object and would have been accepted from the right person.

A new route whose URL argument is not in ARGUMENTS, or whose endpoint is not in SWEEP, fails the sweep until
someone says here who may reach it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from tests.support.authorization import SECRET, World, build_world, snapshot
from tests.support.factories import make_token
from tests.support.web import Account, bearer, csrf_token, login


@dataclass(frozen=True)
class Entry:
    """Who may reach an object route besides the owner."""

    only: frozenset[str] = frozenset()  # the kinds of object the route serves, when its argument could name others
    admin_views: frozenset[str] = frozenset()  # kinds of object an admin reaches here, whoever owns them
    admin_only: bool = False  # behind admin_required: staff get 403, the owner included
    owner_refused: frozenset[str] = frozenset()  # kinds with nothing to show here even to their owner
    signed_link: bool = False  # the URL's token is the credential; the sweep tries forged ones
    # The route also takes an id in its body (a second person, a face): the sweep's one body cannot name the
    # owner's, so the owner is refused too (400 or 404); their own tests show the owner succeeding.
    body_names_another: bool = False
    signed_in_link: bool = False  # a signed link that also needs a signed-in user: signed out, sign in first


OWNER = Entry()
ADMIN_REVIEW_OF_USERS = Entry(admin_views=frozenset({"user"}), admin_only=True)
FACE_RESULTS = frozenset({"comparison", "analysis"})
COMPARISON, ANALYSIS, SEARCH = frozenset({"comparison"}), frozenset({"analysis"}), frozenset({"search"})

# URL argument → the owner's objects it can name, as (kind of object, value) pairs. Arguments that only qualify an
# id (kind, side) name the object they belong with, so a request only combines values of the same object.
# None: the argument names nobody's object.
ARGUMENTS: dict[str, Callable[[World], list[tuple[str, Any]]] | None] = {
    "conversation_id": lambda world: [("conversation", world.ids["conversation"])],
    "project_id": lambda world: [("project", world.ids["project"])],
    "message_id": lambda world: [("question", world.ids["question"]), ("reply", world.ids["reply"])],
    "file_id": lambda world: [("image", world.ids["image"]), ("document", world.ids["document"])],
    "row_id": lambda world: [
        ("comparison", world.ids["comparison"]),
        ("analysis", world.ids["analysis"]),
        ("search", world.ids["search"]),
    ],
    "kind": lambda world: [("comparison", "comparisons"), ("analysis", "analyses")],
    "side": lambda world: [("comparison", "a"), ("comparison", "b"), ("analysis", "photo")],
    "token_id": lambda world: [("api_token", world.ids["api_token"])],
    "person_id": lambda world: [("person", world.ids["person"])],
    "user_id": lambda world: [("user", world.ids["user"])],
    "token": lambda world: [("image", world.ids["image_link"]), ("document", world.ids["document_link"])],
    "prompt_id": lambda world: [("prompt", world.ids["prompt"])],
    "share_id": lambda world: [("share", world.ids["share"])],
    "share_token": lambda world: [("share_link", world.ids["share_link"])],
    "filename": None,  # /static/<path:filename>: the app's own assets
    # /admin/groups/<group_id>: groups are the company's, nobody's own; every route with it is admin-only, which
    # test_governance.py's staff-get-403 test checks for each route of the blueprint, read from the URL map.
    "group_id": None,
}

SWEEP: dict[str, Entry] = {
    "admin.change_role": ADMIN_REVIEW_OF_USERS,
    "admin.deactivate": ADMIN_REVIEW_OF_USERS,
    "admin.reactivate": ADMIN_REVIEW_OF_USERS,
    "admin.reset_password": ADMIN_REVIEW_OF_USERS,
    "admin.revoke_token": Entry(admin_views=frozenset({"api_token"}), admin_only=True),
    "admin.user_detail": ADMIN_REVIEW_OF_USERS,
    "admin.file_download": Entry(admin_views=frozenset({"image", "document"}), admin_only=True),
    "admin.file_thumbnail": Entry(
        admin_views=frozenset({"image"}), admin_only=True, owner_refused=frozenset({"document"})
    ),  # documents have no thumbnail
    "chat_admin.conversation": Entry(admin_views=frozenset({"conversation"}), admin_only=True),
    "api.conversation": OWNER,
    # A project's files: the project must be the requester's (the file in the URL is only taken out of it).
    "attachments.add_project_files": OWNER,
    "attachments.remove_project_file": OWNER,
    "api.delete_conversation": OWNER,
    "api.edit_message": OWNER,
    "api.regenerate_reply": OWNER,
    "api.select_version": OWNER,
    "api.face_analyze_result": Entry(only=ANALYSIS),
    "api.face_verify_result": Entry(only=COMPARISON),
    "api.file_delete": OWNER,
    "api.file_detail": OWNER,
    "api.file_url": OWNER,
    "api.project": OWNER,
    "api.update_project": OWNER,
    "api.delete_project": OWNER,
    "auth.revoke_token": OWNER,
    "chat.conversation": OWNER,
    "chat.earlier_messages": OWNER,
    "chat.edit": OWNER,
    "chat.regenerate": OWNER,
    "chat.select_version": OWNER,
    "chat.send": OWNER,
    "chat.settings": OWNER,
    "chat.stop": OWNER,
    "chat.stream": Entry(owner_refused=frozenset({"question"})),  # only replies stream
    # Admins review everyone's face results (the history shows them all) and may delete them; audited.
    "faces.analysis_detail": Entry(only=ANALYSIS, admin_views=ANALYSIS),
    "faces.analysis_result": Entry(only=ANALYSIS, admin_views=ANALYSIS),
    "faces.comparison_detail": Entry(only=COMPARISON, admin_views=COMPARISON),
    "faces.comparison_result": Entry(only=COMPARISON, admin_views=COMPARISON),
    "faces.delete": Entry(admin_views=FACE_RESULTS),
    "faces.photo": Entry(admin_views=FACE_RESULTS),
    "faces.thumbnail": Entry(admin_views=FACE_RESULTS),
    "faces.choose_faces": Entry(only=COMPARISON),
    "people.search_detail": Entry(only=SEARCH, admin_views=SEARCH),
    "people.person": OWNER,
    "people.rename": OWNER,
    "people.forget": OWNER,
    "people.delete": OWNER,
    "people.merge": Entry(body_names_another=True),
    "people.split": Entry(body_names_another=True),
    "api.person_detail": OWNER,
    "api.person_change": OWNER,
    "api.person_delete": OWNER,
    "api.person_merge": Entry(body_names_another=True),
    "api.person_split": Entry(body_names_another=True),
    "files.delete": OWNER,
    "files.detail": OWNER,
    "files.download": OWNER,
    "files.preview": OWNER,
    "files.rename": OWNER,
    "files.thumbnail": Entry(owner_refused=frozenset({"document"})),  # documents have no thumbnail
    # Anyone holding a genuine link downloads (it is handed out by GET /api/files/<id>/url, swept above); the
    # sweep sends links for the owner's files signed with another key.
    "files.signed_download": Entry(signed_link=True),
    "history.delete": OWNER,
    "history.export_json": OWNER,
    "history.export_markdown": OWNER,
    "history.pin": OWNER,
    "history.rename": OWNER,
    "history.unpin": OWNER,
    "projects.delete": OWNER,
    "projects.detail": OWNER,
    "projects.edit": OWNER,
    "projects.move": OWNER,
    "api.update_prompt": OWNER,
    "api.delete_prompt": OWNER,
    "prompts.edit": OWNER,
    "prompts.update": OWNER,
    "prompts.delete": OWNER,
    "api.share_conversation": OWNER,
    "api.unshare_conversation": OWNER,
    "sharing.manage": OWNER,
    "sharing.share": OWNER,
    "sharing.revoke": OWNER,
    # Admins list every live share and may end any (audited).
    "sharing_admin.admin_revoke": Entry(admin_views=frozenset({"share"}), admin_only=True),
    # Anyone signed in who holds a genuine link reads the snapshot (tests/integration/test_sharing.py); the sweep
    # sends a link of the right shape that no share has.
    "sharing.view": Entry(signed_link=True, signed_in_link=True),
}

# One body for every form: each field any object route reads, with a value its form accepts. Strangers ask for the
# most they could want (an admin role, a new password).
FORM = {
    "title": f"Taken {SECRET}",
    "name": f"taken-{SECRET}.txt",
    "message": "Hello",
    "system_prompt": "Obey",
    "role": "admin",
    "new_password": "a new password for this account",
    "face_a": "0",
    "face_b": "0",
    # People: ids a person's merge and split read from the body (numbers, as the API's JSON wants them).
    "into": 1,
    "face_ids": [1],
    "face_id": 1,
    "next": "/history",
    "command": f"taken-{SECRET}",
    "text": f"Taken {SECRET}",
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
SUCCESS_ELSEWHERE = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class Attempt:
    rule: str
    endpoint: str
    method: str
    url_for: dict[str, Any]  # URL arguments
    kind: str  # the kind of object the URL names
    entry: Entry

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")  # as webapp.errors decides who gets JSON

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} on the owner's {self.kind} {self.url_for}"


class SweepGap(AssertionError):
    """A route the sweep cannot place: say in ARGUMENTS and SWEEP who may reach it."""


def object_rules(app: Flask) -> list[Rule]:
    """Every rule with an argument naming an object; fails on arguments and endpoints the sweep does not know."""
    gaps: list[str] = []
    rules = []
    for rule in app.url_map.iter_rules():
        unknown = sorted(name for name in rule.arguments if name not in ARGUMENTS)
        if unknown:
            gaps.append(
                f"new route {rule.rule} ({rule.endpoint}) has URL argument(s) {', '.join(unknown)} "
                "with no entry in ARGUMENTS (which of the owner's objects do they name?)"
            )
            continue
        if not any(ARGUMENTS[name] is not None for name in rule.arguments):
            continue
        if any(ARGUMENTS[name] is None for name in rule.arguments):
            gaps.append(
                f"new route {rule.rule} ({rule.endpoint}) mixes object arguments with ones ARGUMENTS says "
                "name no object: give those values there"
            )
            continue
        if rule.endpoint not in SWEEP:
            gaps.append(f"new route {rule.rule} ({rule.endpoint}) has no sweep entry in SWEEP")
            continue
        rules.append(rule)
    swept = {rule.endpoint for rule in rules}
    gaps += [f"SWEEP names {endpoint}, which is no longer an object route" for endpoint in sorted(set(SWEEP) - swept)]
    if gaps:
        raise SweepGap("\n".join(gaps))
    return sorted(rules, key=lambda rule: (rule.rule, rule.endpoint))


def attempts(app: Flask, world: World) -> list[Attempt]:
    """Each object route × each method × each object of the owner that its arguments can name together (always in
    the same order, so the n-th attempt on two worlds is the same request on different objects)."""
    found = []
    for rule in object_rules(app):
        names = sorted(rule.arguments)
        choices = [ARGUMENTS[name](world) for name in names]  # type: ignore[misc]
        for combination in itertools.product(*choices):
            kinds = {kind for kind, _ in combination}
            entry = SWEEP[rule.endpoint]
            if len(kinds) != 1 or (entry.only and not kinds <= entry.only):
                continue
            (kind,) = kinds
            arguments = {name: value for name, (_, value) in zip(names, combination, strict=True)}
            for method in sorted(rule.methods - IGNORED_METHODS):
                found.append(Attempt(rule.rule, rule.endpoint, method, arguments, kind, entry))
    return found


@dataclass
class Requester:
    """A signed-in browser session (with its CSRF token) and the same person's API token."""

    account: Account
    client: FlaskClient
    token: str
    csrf: str


def requester(app: Flask, account: Account, token: str | None = None) -> Requester:
    client = app.test_client()
    login(client, account.email, account.password)
    # A real token, read from a page of this session the way a browser gets it.
    return Requester(account, client, token or make_token(app, account, "sweep"), csrf_token(client, "/account"))


def send(app: Flask, who: Requester, attempt: Attempt) -> TestResponse:
    with app.test_request_context():
        url = url_for(attempt.endpoint, **attempt.url_for)
    # buffered: a streamed reply is read to its end and closed, as a browser would, and its request context with it.
    if attempt.is_api:
        body = {"json": FORM} if attempt.method in {"POST", "PUT", "PATCH"} else {}
        return who.client.open(url, method=attempt.method, headers=bearer(who.token), buffered=True, **body)
    body = {"data": {**FORM, "csrf_token": who.csrf}} if attempt.method != "GET" else {}
    return who.client.open(url, method=attempt.method, headers={"X-CSRFToken": who.csrf}, buffered=True, **body)


def succeeded(response: TestResponse) -> bool:
    if response.status_code in SUCCESS_ELSEWHERE:
        return "/login" not in response.headers.get("Location", "")
    return response.status_code < 400


def refusal_problem(response: TestResponse, attempt: Attempt, expected: int) -> str | None:
    """Why `response` is not the plain refusal a stranger must get, or None."""
    if response.status_code != expected:
        return f"{attempt}: {response.status_code}, expected {expected}"
    if SECRET.encode() in response.data:
        return f"{attempt}: the refusal shows the owner's data"
    if attempt.is_api and (not response.is_json or response.get_json().get("status") != expected):
        return f"{attempt}: the API refused without its JSON error body"
    return None


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def test_the_sweep_knows_every_object_route(app: Flask) -> None:
    rules = object_rules(app)
    endpoints = {rule.endpoint for rule in rules}
    # The routes that exist today are all in it: a sweep that found none would pass for nothing.
    assert {
        "chat.conversation",
        "files.download",
        "faces.photo",
        "api.file_detail",
        "admin.user_detail",
        "auth.revoke_token",
        "files.signed_download",
        "projects.detail",
        "api.update_project",
    } <= endpoints
    assert "static" not in endpoints


def test_a_new_object_route_without_an_entry_fails_the_sweep(app: Flask) -> None:
    app.add_url_rule("/reports/<int:report_id>", "reports.show", lambda report_id: "")
    with pytest.raises(SweepGap, match=r"new route /reports/<int:report_id> \(reports.show\) has URL argument"):
        object_rules(app)

    app.url_map._rules.pop()  # a known argument, but no entry: still a gap
    app.add_url_rule("/reports/<int:file_id>/copy", "reports.copy", lambda file_id: "")
    with pytest.raises(SweepGap, match=r"new route /reports/<int:file_id>/copy \(reports.copy\) has no sweep entry"):
        object_rules(app)


def test_another_staff_user_gets_404_for_every_object_and_changes_nothing(
    app: Flask, world: World, other_staff: Account, admin: Account
) -> None:
    stranger = requester(app, other_staff)
    before = snapshot(app, ignore_user_ids={other_staff.id})
    tried = attempts(app, world)
    problems = []
    for attempt in tried:
        response = send(app, stranger, attempt)
        problem = refusal_problem(response, attempt, 403 if attempt.entry.admin_only else 404)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert snapshot(app, ignore_user_ids={other_staff.id}) == before
    assert {attempt.method for attempt in tried} >= {"GET", "POST", "DELETE"}


def test_an_admin_reaches_only_the_declared_admin_views(app: Flask, world: World, admin: Account) -> None:
    reviewer = requester(app, admin)
    before = snapshot(app, ignore_user_ids={admin.id})
    problems, changing = [], []
    for index, attempt in enumerate(attempts(app, world)):
        allowed = attempt.kind in attempt.entry.admin_views
        if allowed and attempt.method != "GET":
            changing.append(index)  # tried below, each on objects of its own
            continue
        response = send(app, reviewer, attempt)
        if allowed and not succeeded(response):
            problems.append(f"{attempt}: {response.status_code}, but it is a declared admin view")
        if not allowed and (problem := refusal_problem(response, attempt, 404)):
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert snapshot(app, ignore_user_ids={admin.id}) == before

    # The declared admin actions (role, deactivate, delete a face result) work, each on a world of its own.
    assert changing
    for index in changing:
        attempt = attempts(app, build_world(app))[index]
        response = send(app, reviewer, attempt)
        assert succeeded(response), f"{attempt}: {response.status_code}, but it is a declared admin view"


def test_the_owner_reaches_every_object_route(app: Flask, world: World) -> None:
    """The control: the very requests strangers were refused are accepted from the owner (with the same CSRF
    token handling and form), so each 404 above came from the owner check, not from a malformed request."""
    owner = requester(app, world.owner, world.token)
    problems = []
    for index, attempt in enumerate(attempts(app, world)):
        if attempt.entry.admin_only:
            continue
        if attempt.method != "GET":  # each change on objects of its own: a delete must not hide the next object
            attempt = attempts(app, build_world(app, world.owner))[index]
        response = send(app, owner, attempt)
        refused = attempt.kind in attempt.entry.owner_refused or attempt.entry.signed_link
        if refused and response.status_code != 404:
            problems.append(f"{attempt}: {response.status_code}, expected 404 even for the owner")
        if attempt.entry.body_names_another and response.status_code in {400, 404}:
            continue
        if not refused and response.status_code in {400, 401, 403, 404}:
            problems.append(f"{attempt}: {response.status_code} for the owner")
    assert not problems, "\n".join(problems)


def test_someone_signed_out_is_sent_to_sign_in_on_every_object_route(app: Flask, world: World) -> None:
    """Pages redirect to the sign-in page (a POST too, and its CSRF token is not what stops it); the API asks for a
    token with 401 JSON; a forged download link is simply not found."""
    visitor = app.test_client()
    anonymous = Requester(world.owner, visitor, token="wbt_not-a-token", csrf=csrf_token(visitor, "/login"))
    before = snapshot(app, ignore_user_ids=set())
    problems = []
    for attempt in attempts(app, world):
        response = send(app, anonymous, attempt)
        if attempt.entry.signed_link and not attempt.entry.signed_in_link:
            problem = refusal_problem(response, attempt, 404)
        elif attempt.is_api:
            problem = refusal_problem(response, attempt, 401)
        elif response.status_code != 302 or not response.headers["Location"].startswith("/login"):
            problem = f"{attempt}: {response.status_code} to {response.headers.get('Location')}, not the sign-in page"
        else:
            problem = None
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert snapshot(app, ignore_user_ids=set()) == before


# Ids that travel in a body rather than the URL: the same rule holds.
BODY_IDS = [
    ("/api/chat", "json", lambda ids: {"message": "Hello", "conversation_id": ids["conversation"]}),
    ("/api/chat", "json", lambda ids: {"message": "Hello", "project_id": ids["project"]}),
    ("/api/chat", "json", lambda ids: {"message": "Hello", "project_id": ids["project"], "temporary": True}),
    ("/chat", "form", lambda ids: {"message": "Hello", "project_id": ids["project"]}),
    ("/api/chat", "json", lambda ids: {"message": "Hello", "file_ids": [ids["document"]]}),
    ("/chat", "form", lambda ids: {"message": "Hello", "file_ids": ids["document"]}),
    ("/api/face/verify", "json", lambda ids: {"image1": ids["image"], "image2": ids["image"]}),
    ("/api/face/analyze", "json", lambda ids: {"image": ids["image"]}),
    ("/faces/compare", "form", lambda ids: {"file_a": ids["image"], "file_b": ids["image"]}),
    ("/faces/analyze", "form", lambda ids: {"file": ids["image"]}),
]


@pytest.mark.parametrize(("url", "encoding", "body"), BODY_IDS, ids=[url for url, _, _ in BODY_IDS])
def test_another_staff_user_gets_404_for_an_object_id_in_a_body(
    app: Flask, world: World, other_staff: Account, url: str, encoding: str, body: Callable
) -> None:
    stranger = requester(app, other_staff)
    before = snapshot(app, ignore_user_ids={other_staff.id})
    if encoding == "json":
        response = stranger.client.post(url, json=body(world.ids), headers=bearer(stranger.token))
    else:
        response = stranger.client.post(url, data={**body(world.ids), "csrf_token": stranger.csrf})
    assert response.status_code == 404
    assert SECRET.encode() not in response.data
    assert snapshot(app, ignore_user_ids={other_staff.id}) == before
