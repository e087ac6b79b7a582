"""The one kind of error a user can cause: :class:`UserError`.

Every error class a module raises for bad input, a missing dependency or an unreachable service subclasses
it (many also subclass ``ValueError`` or ``RuntimeError``, as they did before, so existing ``except`` clauses keep
working). The CLIs print a ``UserError`` as one line (exit code 2) and let anything else propagate with its
traceback: an internal bug must never read as a user mistake.
"""

from __future__ import annotations


class UserError(Exception):
    """An error with a one-line message for the user (bad input, missing dependency, unreachable service)."""


class UsageError(UserError, ValueError):
    """Options that do not fit together, or a value out of range (one line, naming the option)."""


class DemonstratorError(UserError, ValueError):
    """A demonstrator spec or checkpoint that cannot be used for the task (one-line message).

    Here rather than in ``vintix_data.demonstrators`` (which re-exports it) because the domain adapters raise it
    too, and the demonstrator loaders call the adapters: neither package imports the other's errors that way.
    """


__all__ = ["UserError", "UsageError", "DemonstratorError"]
