"""Why a client run checks no case for some requirements that bind clients (issue 12 item 4).

Every testable requirement of party ``client`` or ``both`` is named by a client case, or is here
with the reason a client run cannot or does not judge it; the compliance matrix of a client run
shows that reason instead of "no case" (matrix.py), and a test keeps this table honest
(tests/conformance/client/test_coverage.py). Requirements the spec marks untestable carry their
own reason (``data-untestable``) and are not repeated here.
"""

from __future__ import annotations

__all__ = ["NOT_CHECKED", "PENDING"]

NOT_CHECKED: dict[str, str] = {
    "TRANSPORT-21": "a permission (MAY): a client that closes with 1007 and one that does not "
    "both conform",
    "CHAT-6": "the frame limit binds every channel alike: CL-LIMIT-01 checks LIMIT-7 on a "
    "conformance channel (the chat profile is a server profile in client runs)",
    "HEARTBEAT-6": "how often a client pings on its own is not driven by anything the suite "
    "can ask for through the adapter protocol v1",
    "CLIENT-8": "the bound is the client's own choice and may be larger than any number of "
    "requests a case can send in its budget",
    "CLIENT-12": "whether a client hands events over asynchronously, and its bound, are inside "
    "the client: adapter protocol v1 has no way to make the application slow",
    "CLIENT-15": "a SHOULD whose bound is the client's own: a case cannot tell a client that "
    "waits longer than its budget from one that never gives up",
}
"""Requirement → why no client case checks it."""

PENDING: dict[str, str] = {}
"""Requirements whose client cases are being written; remove the entry when a case naming the
requirement lands."""
