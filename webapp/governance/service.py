"""Groups, model access and enforced monthly budgets: the rules the pages, the CLI, the chat and the gateway share.

Model access: a user may use a model when any of their groups allows it, or when no group of theirs restricts
models at all. A group that says nothing about models allows nothing by itself; `ALL_MODELS` ("*") is how a group
says "every model". Admins are held to the same rule.

Budgets: each limit that applies to a user (their own, and each of their groups') is held against that user's own
spend this UTC month: a group's limit is each member's allowance, not a pool. Before a request goes to a model,
`check_budget` admits it with one conditional UPDATE of the user's row in `usage_months`:

    UPDATE usage_months SET requests = requests + 1
    WHERE user_id = :user AND month = :month AND tokens < :token_limit AND requests < :request_limit

(each limit the smallest of the user's and their groups', read by the statement itself: nothing is read first).

The row's lock makes concurrent sends of one user take turns, each seeing the others' admissions: a request limit
is never passed, and a token limit is passed by no more than the replies already admitted and still being
written (their tokens are only known when the provider reports them, and a reply that streams past the limit is
allowed to finish). The next request after that is refused with 429.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Update, bindparam, delete, func, or_, select, union_all, update

from webapp.audit import service as audit
from webapp.auth import service as users
from webapp.auth.models import User
from webapp.bounds import without_nul
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.governance.models import ALL_MODELS, Group, UserLimit, group_members
from webapp.timeutil import utcnow
from webapp.usage import service as usage
from webapp.usage.models import UsageMonth

if TYPE_CHECKING:
    from webapp.chat.models import Conversation
    from webapp.chat.service import ModelChoice

MAX_GROUP_NAME = 80
# The chat page warns from this share of a limit on.
WARNING_SHARE = 0.8
# Limits are stored as 64-bit (tokens) and 32-bit (requests) integers.
MAX_MONTHLY_TOKENS = 2**63 - 1
MAX_MONTHLY_REQUESTS = 2**31 - 1


# -- groups ------------------------------------------------------------------------------------------------------


def clean_group_name(name: str | None) -> str:
    name = " ".join(without_nul(name or "").split())
    if not name:
        raise Refused("Give the group a name.", field="name")
    if len(name) > MAX_GROUP_NAME:
        raise Refused(f"A group name can be at most {MAX_GROUP_NAME} characters long.", field="name")
    return name


def list_groups() -> list[Group]:
    return list(db.session.scalars(select(Group).order_by(Group.name)))


def get_group(group_id: int) -> Group:
    group = db.session.get(Group, group_id)
    if group is None:
        raise NotFound("There is no such group.")
    return group


def find_group(name: str) -> Group:
    """The group named `name` (exactly, spaces tidied), or 404 saying which groups there are."""
    group = db.session.scalar(select(Group).where(Group.name == " ".join(without_nul(name or "").split())))
    if group is None:
        known = ", ".join(group.name for group in list_groups()) or "none yet"
        raise NotFound(f"There is no group named {name!r}. Groups: {known}.")
    return group


def create_group(name: str | None, actor: User | None = None) -> Group:
    name = clean_group_name(name)
    if db.session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise Refused(f"A group named {name!r} already exists.", status=409, field="name")
    group = Group(name=name, created_at=utcnow())
    db.session.add(group)
    db.session.flush()
    audit.record("group.created", user=actor, target=group, detail=name)
    db.session.commit()
    return group


def delete_group(group: Group, actor: User | None = None) -> None:
    audit.record("group.deleted", user=actor, target=group, detail=group.name)
    db.session.execute(delete(group_members).where(group_members.c.group_id == group.id))
    db.session.delete(group)
    db.session.commit()


def user_by_email(email: str | None) -> User:
    user = users.find_user_by_email(email or "")
    if user is None:
        raise NotFound(f"No user has the email {users.normalize_email(email or '')!r}.", field="email")
    return user


def add_member(group: Group, email: str | None, actor: User | None = None) -> User:
    """Put the user with `email` in the group (a user may be in several groups); adding a member again is fine."""
    user = user_by_email(email)
    if user not in group.members:
        group.members.append(user)
        audit.record("group.member_added", user=actor, target=group, detail=f"{user.email} to {group.name}")
    db.session.commit()
    return user


def remove_member(group: Group, user: User, actor: User | None = None) -> None:
    if user not in group.members:
        raise NotFound(f"{user.email} is not in the group {group.name!r}.", field="email")
    group.members.remove(user)
    audit.record("group.member_removed", user=actor, target=group, detail=f"{user.email} from {group.name}")
    db.session.commit()


def groups_of(user: User) -> list[Group]:
    return list(
        db.session.scalars(
            select(Group).join(group_members).where(group_members.c.user_id == user.id).order_by(Group.name)
        )
    )


# -- model access ------------------------------------------------------------------------------------------------


def configured_choices() -> list[ModelChoice]:
    from webapp.chat import service as chat

    return chat.model_choices()


def clean_model_list(models: list[str] | None) -> list[str] | None:
    """The models a group is to allow, each one configured here (or ALL_MODELS); None: no restriction."""
    if models is None:
        return None
    wanted = list(dict.fromkeys(without_nul(model).strip() for model in models if model and model.strip()))
    choices = configured_choices()
    unknown = [
        model
        for model in wanted
        if model != ALL_MODELS and not any(model in (choice.value, choice.model) for choice in choices)
    ]
    if unknown and choices:  # with no model configured yet there is nothing to check against
        offered = ", ".join(choice.value for choice in choices)
        raise Refused(
            f"{', '.join(repr(model) for model in unknown)} {'is' if len(unknown) == 1 else 'are'} not configured "
            f"here. Configured models: {offered} (or {ALL_MODELS} for every model).",
            field="models",
        )
    return wanted


def set_group_models(group: Group, models: list[str] | None, actor: User | None = None) -> Group:
    """Limit the group to `models` ([] allows none), or lift its restriction (None)."""
    cleaned = clean_model_list(models)
    group.allowed_models = None if cleaned is None else "\n".join(cleaned)
    audit.record(
        "group.models_set",
        user=actor,
        target=group,
        detail=f"{group.name}: " + ("no restriction" if cleaned is None else ", ".join(cleaned) or "no model"),
    )
    db.session.commit()
    return group


def _allows(entries: list[str], choice: ModelChoice) -> bool:
    return ALL_MODELS in entries or choice.value in entries or choice.model in entries


def allowed_models(user: User, choices: list[ModelChoice] | None = None) -> list[ModelChoice]:
    """The configured models (or `choices`) the user may use, in their usual order (the default first)."""
    choices = configured_choices() if choices is None else choices
    restrictions = [group.model_list for group in groups_of(user) if group.model_list is not None]
    if not restrictions:
        return choices
    return [choice for choice in choices if any(_allows(entries, choice) for entries in restrictions)]


def check_model_allowed(user: User, choice: ModelChoice, allowed: list[ModelChoice] | None = None) -> None:
    """403 naming the models the user may use (`allowed`, when already read), when `choice` is not one of them."""
    allowed = allowed_models(user) if allowed is None else allowed
    if choice in allowed:
        return
    names = [item.value for item in allowed]
    which = f"the models open to you are: {', '.join(names)}" if names else "no model is open to you yet"
    raise Refused(
        f"Your groups do not allow the model {choice.value!r}; {which}. An administrator can change this.",
        status=403,
        field="model",
        allowed_models=names,
    )


def choose_model(
    user: User, value: str | None, conversation: Conversation | None = None, preferred: str | None = None
) -> ModelChoice:
    """The model `value` names, if the user may use it (403 otherwise). Without a value: `preferred` (a project's
    default model) or the conversation's model when the user may use it, else the first model they may use."""
    from webapp.chat import service as chat

    if (value or "").strip():
        choice = chat.resolve_model(value, conversation)  # 503 with no model at all, 400 for one not configured
        check_model_allowed(user, choice)
        return choice
    allowed = allowed_models(user)
    choice = chat.resolve_model(preferred, conversation)
    if choice not in allowed and preferred:
        choice = chat.resolve_model(None, conversation)
    if choice not in allowed and allowed:
        choice = allowed[0]
    check_model_allowed(user, choice, allowed)
    return choice


# -- limits ------------------------------------------------------------------------------------------------------


def clean_limit(value: int | str | None, field: str, maximum: int) -> int | None:
    """A limit as stored: a whole number from 0 up, or None for no limit (an empty form field)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise Refused("Enter a whole number, or leave it empty for no limit.", field=field) from None
    if not 0 <= number <= maximum:
        raise Refused(f"Enter a number from 0 to {maximum:,}, or leave it empty for no limit.", field=field)
    return number


def set_group_limits(
    group: Group, monthly_tokens: int | str | None, monthly_requests: int | str | None, actor: User | None = None
) -> Group:
    group.monthly_tokens = clean_limit(monthly_tokens, "monthly_tokens", MAX_MONTHLY_TOKENS)
    group.monthly_requests = clean_limit(monthly_requests, "monthly_requests", MAX_MONTHLY_REQUESTS)
    audit.record("group.limits_set", user=actor, target=group, detail=f"{group.name}: {describe_limits(group)}")
    db.session.commit()
    return group


def set_user_limit(
    user: User, monthly_tokens: int | str | None, monthly_requests: int | str | None, actor: User | None = None
) -> UserLimit | None:
    """Set the user's own monthly limits; with neither, their own limit is removed (their groups' still apply)."""
    tokens = clean_limit(monthly_tokens, "monthly_tokens", MAX_MONTHLY_TOKENS)
    requests = clean_limit(monthly_requests, "monthly_requests", MAX_MONTHLY_REQUESTS)
    limit = db.session.get(UserLimit, user.id)
    if tokens is None and requests is None:
        if limit is not None:
            db.session.delete(limit)
        limit = None
    else:
        limit = limit or UserLimit(user_id=user.id)
        limit.monthly_tokens, limit.monthly_requests, limit.updated_at = tokens, requests, utcnow()
        db.session.add(limit)
    audit.record("user.limits_set", user=actor, target=user, detail=describe_limits(limit) if limit else "no own limit")
    db.session.commit()
    return limit


def list_user_limits() -> list[UserLimit]:
    return list(db.session.scalars(select(UserLimit).join(User).order_by(User.email)))


def describe_limits(limit: Group | UserLimit) -> str:
    parts = []
    if limit.monthly_tokens is not None:
        parts.append(f"{limit.monthly_tokens:,} tokens")
    if limit.monthly_requests is not None:
        parts.append(f"{limit.monthly_requests:,} requests")
    return " and ".join(parts) + " a month" if parts else "no limit"


@dataclass(frozen=True)
class Limit:
    """One monthly limit that applies to a user: their own ("user", their email) or a group's ("group", its name)."""

    scope: str
    name: str
    monthly_tokens: int | None
    monthly_requests: int | None

    @property
    def phrase(self) -> str:
        return "your own monthly limit" if self.scope == "user" else f"the monthly limit of the group {self.name!r}"


def applicable_limits(user: User) -> list[Limit]:
    limits = []
    own = db.session.get(UserLimit, user.id)
    if own is not None:
        limits.append(Limit("user", user.email, own.monthly_tokens, own.monthly_requests))
    for group in groups_of(user):
        if group.monthly_tokens is not None or group.monthly_requests is not None:
            limits.append(Limit("group", group.name, group.monthly_tokens, group.monthly_requests))
    return limits


@dataclass(frozen=True)
class LimitStatus:
    limit: Limit
    tokens: int  # the user's spend this month
    requests: int

    @property
    def remaining(self) -> int | None:
        """Tokens left under this limit (never below 0), or None when it limits only requests."""
        if self.limit.monthly_tokens is None:
            return None
        return max(self.limit.monthly_tokens - self.tokens, 0)

    @property
    def requests_remaining(self) -> int | None:
        if self.limit.monthly_requests is None:
            return None
        return max(self.limit.monthly_requests - self.requests, 0)

    @property
    def share(self) -> float:
        """How much of this limit is used (1.0 and above: reached)."""
        shares = []
        if self.limit.monthly_tokens is not None:
            shares.append(self.tokens / self.limit.monthly_tokens if self.limit.monthly_tokens else 1.0)
        if self.limit.monthly_requests is not None:
            shares.append(self.requests / self.limit.monthly_requests if self.limit.monthly_requests else 1.0)
        return max(shares, default=0.0)

    @property
    def reached(self) -> bool:
        return self.share >= 1.0


@dataclass(frozen=True)
class BudgetStatus:
    month: str  # "YYYY-MM", UTC
    tokens: int
    requests: int
    limits: list[LimitStatus]
    resets_at: datetime  # midnight UTC on the 1st of next month

    @property
    def closest(self) -> LimitStatus | None:
        """The limit the user is nearest to (or furthest past)."""
        return max(self.limits, key=lambda status: status.share, default=None)

    @property
    def warning(self) -> LimitStatus | None:
        """The closest limit when WARNING_SHARE of it or more is used."""
        closest = self.closest
        return closest if closest is not None and closest.share >= WARNING_SHARE else None


def budget_status(user: User) -> BudgetStatus:
    month = usage.current_month()
    spent = usage.month_usage(user.id, month)
    limits = [LimitStatus(limit, spent.tokens, spent.requests) for limit in applicable_limits(user)]
    return BudgetStatus(month, spent.tokens, spent.requests, limits, usage.next_month_start(month))


def check_budget(user: User) -> None:
    """Admit one request of `user` to a model, or refuse it (429) when a limit of theirs is reached this month.

    Call it in the transaction that records the request, before anything is sent upstream; the admission is
    committed with that transaction (a rollback gives it back). See the module's docstring for why concurrent
    requests cannot overspend."""
    month = usage.current_month()
    admit, where = _admit_statement(), {"member": user.id, "this_month": month}
    if db.session.execute(admit, where).rowcount:
        return
    # Not admitted: over a limit, or no counter yet this month. Make it from the ledger (summing the month's
    # rows, so only then, not on every request) and try once more.
    usage.ensure_month_row(user.id, month)
    if db.session.execute(admit, where).rowcount:
        return
    row = db.session.execute(
        select(UsageMonth.tokens, UsageMonth.requests).where(UsageMonth.user_id == user.id, UsageMonth.month == month)
    ).one()
    statuses = [LimitStatus(limit, int(row.tokens), int(row.requests)) for limit in applicable_limits(user)]
    raise over_budget(user, month, max(statuses, key=lambda status: status.share))


@cache
def _admit_statement() -> Update:
    """The admitting UPDATE (see the module's docstring), built once: each limit is the smallest of the user's own
    and their groups' (NULL: none), read by the statement itself, so nothing is read before a request is admitted.
    Parameters: `member` (the user's id), `this_month`."""
    user_id = bindparam("member")
    caps = union_all(
        select(UserLimit.monthly_tokens.label("tokens"), UserLimit.monthly_requests.label("requests")).where(
            UserLimit.user_id == user_id
        ),
        select(Group.monthly_tokens, Group.monthly_requests)
        .join(group_members, group_members.c.group_id == Group.id)
        .where(group_members.c.user_id == user_id),
    ).subquery()
    token_cap = select(func.min(caps.c.tokens)).scalar_subquery()
    request_cap = select(func.min(caps.c.requests)).scalar_subquery()
    return (
        update(UsageMonth)
        .where(
            UsageMonth.user_id == user_id,
            UsageMonth.month == bindparam("this_month"),
            or_(token_cap.is_(None), UsageMonth.tokens < token_cap),
            or_(request_cap.is_(None), UsageMonth.requests < request_cap),
        )
        .values(requests=UsageMonth.requests + 1)
        .execution_options(synchronize_session=False)
    )


def over_budget(user: User, month: str, status: LimitStatus) -> Refused:
    """The 429 for a request over `status`'s limit: which limit, how much is used, and when it resets."""
    resets_at = usage.next_month_start(month)
    limit = status.limit
    tokens_reached = limit.monthly_tokens is not None and status.tokens >= limit.monthly_tokens
    if tokens_reached:
        used = f"{status.tokens:,} of the {limit.monthly_tokens:,} tokens"
    else:
        used = f"{status.requests:,} of the {limit.monthly_requests or 0:,} requests"
    return Refused(
        f"You have used {used} that {limit.phrase} allows, so nothing was sent to the model. "
        f"The limit resets on {resets_at:%-d %B %Y} at 00:00 UTC.",
        status=429,
        limit={
            "scope": limit.scope,
            "name": limit.name,
            "monthly_tokens": limit.monthly_tokens,
            "monthly_requests": limit.monthly_requests,
            "tokens": status.tokens,
            "requests": status.requests,
        },
        resets_at=resets_at.isoformat().replace("+00:00", "Z"),
    )
