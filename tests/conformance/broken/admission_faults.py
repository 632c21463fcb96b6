"""Broken servers for HS-13 and HS-14 (handshake.md HANDSHAKE-2, security.md SECURITY-12): the
reference with its admission of connections broken (reference/canaux/server/admission.py).

No relay of this folder can break admission: a relay accepts the suite's connections itself and
opens its own to the server, so the server's pacing and bounds meet the relay's connections, in
the relay's timing. These are the two mutants of ``admission.py`` that survived the power run of
seed 20261208, rebuilt as replacements for the factories ``canaux.server.run`` builds its
protocols with (tests/conformance/test_admission_cases.py applies them with ``monkeypatch``):

- ``AdmittedWebSocketProtocol.resume`` negated: a connection whose first bytes after the ``101``
  (its ``hello``) waited for a turn of a later loop pass is never resumed, so that hello is
  never read (:func:`hellos_never_resumed`);
- ``AdmittedHTTPProtocol._handle``: ``upgraded or …`` → ``and``: an upgraded connection stays
  counted as in its opening handshake for ever (its HTTP protocol never sees it close), so after
  ``max_handshakes`` WebSocket connections in all every new one is answered ``503``
  (:func:`upgrades_stay_counted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from canaux.server.admission import Admission, admission_protocol, admission_ws_protocol

__all__ = ["hellos_never_resumed", "upgrades_stay_counted"]

WsFactory = Callable[[Admission, type[asyncio.Protocol]], type[asyncio.Protocol]]
HttpFactory = Callable[..., type[asyncio.Protocol]]


def hellos_never_resumed() -> WsFactory:
    """An ``admission_ws_protocol`` whose connections, once made to wait for a turn, drop the
    bytes they held and never read again (the server then closes them at its hello timeout)."""

    def factory(admission: Admission, base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
        admitted: Any = admission_ws_protocol(admission, base)

        class NeverResumed(admitted):  # type: ignore[misc]
            def resume(self) -> bool:
                self._held = None  # the bytes held (the hello) are lost, reading stays paused
                return False

        return NeverResumed

    return factory


def upgrades_stay_counted() -> HttpFactory:
    """An ``admission_protocol`` that never ends the opening handshake of a connection upgraded
    to a WebSocket: each one counts against ``max_handshakes`` from then on."""

    def factory(admission: Admission, *args: Any) -> type[asyncio.Protocol]:
        admitted: Any = admission_protocol(admission, *args)

        class UpgradesStayCounted(admitted):  # type: ignore[misc]
            def _end_handshake(self) -> None:
                if self.transport.get_protocol() is not self:
                    return  # upgraded: still counted as handshaking
                super()._end_handshake()

        return UpgradesStayCounted

    return factory
