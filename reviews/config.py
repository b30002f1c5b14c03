"""Campaign templates as configuration: parse and validate the YAML (``campaign template apply``) into model fields.

Every error names the template and the key, and nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from croniter import croniter
from dateutil.relativedelta import relativedelta

from connectors.choices import AccountType, Level

from .choices import OnTimeout

STRATEGIES = ("manager", "resource_owner")
HOLDER_TYPES = {*AccountType.values}
TEMPLATE_KEYS = {
    "name",
    "description",
    "scope",
    "reviewers",
    "schedule",
    "duration",
    "reminders",
    "escalate_after",
    "escalate_reassign",
    "on_timeout",
    "carry_forward",
    "approve_revocations",
    "max_sync_age",
    "enabled",
}
SCOPE_KEYS = {"connectors", "resources", "min_level", "account_types", "risk", "changed_since_last_review"}
_SPAN = re.compile(r"^\s*(\d+)\s*(mo|m|w|d|h)\s*$")


class ConfigError(ValueError):
    """A template file or value is wrong; the message names the template and the key."""


def parse_span(value, *, where: str, months: bool = False) -> timedelta | relativedelta:
    """'14d', '12h', '2w' (and '3mo' where months are allowed) -> a duration."""
    match = _SPAN.match(str(value))
    if not match or int(match[1]) == 0:
        raise ConfigError(f"{where}: {value!r} is not a duration like 14d, 12h or 2w")
    n, unit = int(match[1]), match[2]
    if unit in {"mo", "m"}:
        if not months:
            raise ConfigError(f"{where}: months are only allowed in schedule (every: 3mo)")
        return relativedelta(months=n)
    return {"w": timedelta(weeks=n), "d": timedelta(days=n), "h": timedelta(hours=n)}[unit]


def next_launch(schedule: str, after: datetime) -> datetime | None:
    """The first launch time strictly after ``after`` for a cron expression or 'every: N(d|w|h|mo)'."""
    if not schedule:
        return None
    if schedule.startswith("every:"):
        return after + parse_span(schedule.removeprefix("every:"), where="schedule", months=True)
    return croniter(schedule, after).get_next(datetime)


def _schedule(raw, where: str) -> str:
    if raw in (None, ""):
        return ""
    if isinstance(raw, dict) and set(raw) == {"every"}:
        raw = f"every: {raw['every']}"
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: schedule is a cron expression or 'every: 90d'")
    raw = raw.strip()
    if raw.startswith("every:"):
        parse_span(raw.removeprefix("every:"), where=f"{where}.schedule", months=True)
        return f"every: {raw.removeprefix('every:').strip()}"
    if not croniter.is_valid(raw):
        raise ConfigError(f"{where}: schedule {raw!r} is neither a cron expression nor 'every: 90d'")
    return raw


def _list_of_str(raw, where: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ConfigError(f"{where}: expected a list of names")
    return raw


def _email(raw, where: str) -> str:
    if not isinstance(raw, str) or "@" not in raw:
        raise ConfigError(f"{where}: {raw!r} is not an email address")
    return raw.strip().lower()


def parse_scope(raw, where: str) -> dict:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.scope: expected a mapping")
    unknown = set(raw) - SCOPE_KEYS
    if unknown:
        raise ConfigError(f"{where}.scope: unknown key(s) {', '.join(sorted(unknown))}")
    min_level = raw.get("min_level", "read")
    try:
        Level.from_name(str(min_level))
    except ValueError as exc:
        raise ConfigError(f"{where}.scope.min_level: {exc}") from None
    types = _list_of_str(raw.get("account_types"), f"{where}.scope.account_types")
    bad = set(types) - HOLDER_TYPES
    if bad:
        raise ConfigError(f"{where}.scope.account_types: unknown {', '.join(sorted(bad))}")
    changed = raw.get("changed_since_last_review", False)
    if not isinstance(changed, bool):
        raise ConfigError(f"{where}.scope.changed_since_last_review: true or false")
    return {
        "connectors": _list_of_str(raw.get("connectors"), f"{where}.scope.connectors"),
        "resources": _list_of_str(raw.get("resources"), f"{where}.scope.resources"),
        "min_level": str(min_level),
        "account_types": types,
        "risk": _list_of_str(raw.get("risk"), f"{where}.scope.risk"),
        "changed_since_last_review": changed,
    }


def _strategies(raw, where: str) -> tuple[list, str | None]:
    strategies, fallback = [], None
    for i, entry in enumerate(raw or []):
        here = f"{where}[{i}]"
        if entry in STRATEGIES:
            strategies.append(entry)
        elif isinstance(entry, dict) and set(entry) == {"users"}:
            users = [_email(u, here) for u in _list_of_str(entry["users"], f"{here}.users")]
            strategies.append({"users": users})
        elif isinstance(entry, dict) and set(entry) == {"fallback"}:
            fallback = _email(entry["fallback"], here)
        else:
            raise ConfigError(f"{here}: a strategy is manager, resource_owner, users: [emails] or fallback: email")
    return strategies, fallback


def parse_reviewers(raw, where: str) -> dict:
    """Ordered strategies (list form, or {strategies, fallback, stages}) -> the normalized mapping."""
    if isinstance(raw, list):
        raw = {"strategies": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.reviewers: expected a list of strategies or a mapping")
    unknown = set(raw) - {"strategies", "fallback", "stages"}
    if unknown:
        raise ConfigError(f"{where}.reviewers: unknown key(s) {', '.join(sorted(unknown))}")
    strategies, fallback = _strategies(raw.get("strategies"), f"{where}.reviewers.strategies")
    if raw.get("fallback") is not None:
        fallback = _email(raw["fallback"], f"{where}.reviewers.fallback")
    if not strategies and not fallback:
        raise ConfigError(f"{where}.reviewers: name at least one strategy or a fallback reviewer")
    stages = []
    for i, stage in enumerate(raw.get("stages") or []):
        here = f"{where}.reviewers.stages[{i}]"
        if not isinstance(stage, dict):
            raise ConfigError(f"{here}: expected {{strategies: [...], when: {{min_level: admin}}}}")
        stage_strategies, _ = _strategies(stage.get("strategies"), f"{here}.strategies")
        if not stage_strategies:
            raise ConfigError(f"{here}: a stage needs strategies")
        when = stage.get("when") or {}
        if set(when) - {"min_level", "risk"}:
            raise ConfigError(f"{here}.when: only min_level and risk")
        if "min_level" in when:
            try:
                Level.from_name(str(when["min_level"]))
            except ValueError as exc:
                raise ConfigError(f"{here}.when.min_level: {exc}") from None
        stages.append({"strategies": stage_strategies, "when": when})
    return {"strategies": strategies, "fallback": fallback, "stages": stages}


def parse_template(raw) -> dict:
    """One YAML template -> CampaignTemplate field values."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise ConfigError("every template needs a name")
    name = raw["name"].strip()
    where = f"template {name!r}"
    unknown = set(raw) - TEMPLATE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    on_timeout = raw.get("on_timeout", OnTimeout.KEEP)
    if on_timeout not in OnTimeout.values:
        raise ConfigError(f"{where}: on_timeout is keep, revoke or extend")
    reminders = raw.get("reminders", [7, 3, 1])
    if not isinstance(reminders, list) or not all(isinstance(d, int) and d > 0 for d in reminders):
        raise ConfigError(f"{where}: reminders is a list of days before the deadline, e.g. [7, 3, 1]")
    for flag in ("carry_forward", "approve_revocations", "escalate_reassign", "enabled"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise ConfigError(f"{where}: {flag} is true or false")
    escalate = raw.get("escalate_after")
    return {
        "name": name,
        "description": str(raw.get("description", "")),
        "scope": parse_scope(raw.get("scope"), where),
        "reviewers": parse_reviewers(raw.get("reviewers"), where),
        "schedule": _schedule(raw.get("schedule"), where),
        "duration": parse_span(raw.get("duration", "14d"), where=f"{where}.duration"),
        "reminders": sorted(set(reminders), reverse=True),
        "escalate_after": parse_span(escalate, where=f"{where}.escalate_after") if escalate else None,
        "escalate_reassign": raw.get("escalate_reassign", False),
        "on_timeout": on_timeout,
        "carry_forward": raw.get("carry_forward", False),
        "approve_revocations": raw.get("approve_revocations", False),
        "max_sync_age": parse_span(raw.get("max_sync_age", "24h"), where=f"{where}.max_sync_age"),
        "enabled": raw.get("enabled", True),
    }
