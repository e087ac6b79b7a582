"""``KEY=VALUE`` items of ``--env-option`` (vintix-data) / ``--variation`` (vintix-model): what the CLIs hand to
:func:`vintix_data.domains.configure_task`."""

from __future__ import annotations

from vintix_data.errors import UsageError

# Domain options that are switches (Meta-World's fixed_goal): their values are parsed strictly, so "false" is False
# (a plain bool("false") is True).
BOOL_OPTIONS = ("fixed_goal",)
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_bool(text: str, what: str) -> bool:
    """true/1/yes/on -> True, false/0/no/off -> False (any case); one-line UsageError naming ``what`` otherwise."""
    v = str(text).strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise UsageError(f"{what} takes true or false (also 1/0, yes/no, on/off), got {text!r}")


def parse_options(items: list[str] | None, flag: str = "--env-option") -> dict:
    """``KEY=VALUE`` items -> dict: values are strings checked by the task's domain adapter, except switches
    (BOOL_OPTIONS), parsed here into bools. One-line UsageError naming ``flag`` on a malformed item."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key] = parse_bool(value, f"{flag} {key}") if key in BOOL_OPTIONS else value
    return out


def parse_env_options(items: list[str] | None) -> dict[str, str]:
    """``["viscosity=0.05", "gravity=1.1"]`` -> dict of strings (one-line UsageError on a malformed item)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--env-option takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out
