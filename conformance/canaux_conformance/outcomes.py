"""Case outcomes: the exceptions a case raises and the verdicts the runner derives (Conformance).

A case either returns (pass), raises :class:`CaseFailed` (the server broke a requirement),
raises :class:`CaseSkipped` (an optional feature is absent), or raises anything else, which
means the suite itself broke (verdict ``error``; :class:`SuiteError` when the suite knows how,
e.g. it broke a limit the server announced). A failed ``SHOULD`` case is ``non-strict``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CaseFailed", "CaseSkipped", "SuiteError", "Verdict"]


class Verdict(StrEnum):
    """The five verdicts of a conformance case."""

    PASS = "pass"
    FAIL = "fail"
    NON_STRICT = "non-strict"
    SKIPPED = "skipped"
    ERROR = "error"


class CaseFailed(AssertionError):
    """The server under test did not do what a requirement says.

    ``requirement`` is the ID the finding is about (e.g. ``"OPS-1"``); when ``None`` the
    runner attributes the failure to the case's first requirement.
    """

    def __init__(self, message: str, *, requirement: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.requirement = requirement

    def __str__(self) -> str:
        if self.requirement:
            return f"[{self.requirement}] {self.message}"
        return self.message


class CaseSkipped(Exception):
    """The case did not run on this server, for ``reason``.

    ``applicable=False``: what the case checks does not apply to this server (the channel or
    feature it is about is not offered, the server's legal limits make its input impossible).
    ``applicable=True`` (the default): it applies, but the suite could not check it (the
    ``conformance.*`` family is off, no publish URL, a timer longer than the budget waits...);
    a requirement of a tested profile that no case could check makes the run *incomplete*.
    """

    def __init__(self, reason: str, *, applicable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.applicable = applicable


class SuiteError(Exception):
    """The suite itself did something wrong, e.g. broke a limit the server announced.

    Reported as ``error``: it says nothing about the server under test. ``culprit`` says who
    broke in the verdict's message (a subclass names another part of the set-up).
    """

    culprit = "the suite broke"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
