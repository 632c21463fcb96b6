"""Survivors judged EQUIVALENT: the mutated server behaves, on the wire, like a conformant one.

An entry matches a mutation by file and by any of: the enclosing scope, the operator, and the
one-line diff (the stripped line before and after). None of these is a line number, so an
entry keeps matching while the code around it moves; when the line itself changes a
``before``/``after`` entry stops matching and the survivor counts again until someone
re-judges it. Add an entry only with the reason no client could ever tell the difference
(or could tell only a different *conformant* server from this one).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.power.mutations import Mutation

__all__ = ["EQUIVALENT", "EQUIVALENTS", "OUT_OF_REACH", "Equivalent", "judged_equivalent"]


EQUIVALENT = "equivalent"
"""No client can tell the mutant from the original, or only from another conformant server."""
OUT_OF_REACH = "out of reach"
"""The code runs only through an in-process API or a reference-only feature the spec does not
define, so no suite talking to the server over the wire can reach it."""


@dataclass(frozen=True)
class Equivalent:
    path: str
    reason: str
    scope: str | None = None
    """The enclosing scope, or its prefix (``ProgressReporter`` matches its methods too)."""
    operator: str | None = None
    before: str | None = None
    after: str | None = None
    kind: str = EQUIVALENT
    contains: str | None = None
    """A text the line before the edit must hold (for a table whose lines differ)."""

    def matches(self, mutation: Mutation, before: str, after: str) -> bool:
        if self.contains is not None and self.contains not in before:
            return False
        if self.scope is not None and not (
            mutation.scope == self.scope or mutation.scope.startswith(self.scope + ".")
        ):
            return False
        wanted = (self.path, self.operator, self.before, self.after)
        actual = (mutation.path, mutation.operator, before, after)
        return all(w is None or w == a for w, a in zip(wanted, actual, strict=True))


EQUIVALENTS: tuple[Equivalent, ...] = (
    Equivalent(
        path="canaux/protocol/limits.py",
        scope="Limits",
        operator="constant",
        reason="a default limit moved by one: the welcome announces it, the server enforces "
        "what it announces, and any value the spec allows makes a conformant server (the "
        "power run also sets the heartbeat, hello timeout and resume window on the command "
        "line, so those three defaults never reach it)",
    ),
    Equivalent(
        path="canaux/protocol/channels.py",
        scope="Catalogue._check_entry",
        reason="checks the catalogue an application configures, once, when the server is "
        "built: a mutant here either refuses the reference's catalogue (the server does not "
        "start: stillborn) or accepts it and serves exactly the same catalogue",
    ),
    Equivalent(
        path="canaux/server/channels/standard.py",
        scope="standard_channels",
        operator="delete",
        before="channels += conformance_channels()",
        reason="the catalogue loses conformance.*: a server MAY leave the family out (CONF-2), "
        "so this is another conformant server; the suite says so by skipping the cases that "
        "need the family",
    ),
    Equivalent(
        path="canaux/server/run.py",
        scope="CanauxUvicornServer.startup",
        operator="boolean",
        before="if self.started and self.on_listening is not None:",
        reason="in a run that listens, started is true when this line runs; the two differ "
        "only when uvicorn fails to start, and then nothing listens",
    ),
    Equivalent(
        path="canaux/server/channels/chat.py",
        scope="run_chat_request",
        before="if not piece:",
        after="if (piece):",
        reason="the demo agent then sends no chunk and a done with chunks 0: CHAT-1 allows "
        "zero chunks, and the spec leaves what the agent says to the agent",
    ),
    Equivalent(
        path="canaux/server/sessions.py",
        scope="SessionRegistry._sweep",
        before="await self._hub.release_unused()",
        reason="only stops the broker delivering channels nobody here subscribes to any "
        "more; the hub drops those messages anyway (no subscriber): memory and CPU differ, "
        "the wire does not",
    ),
    Equivalent(
        path="canaux/server/asyncapi.py",
        scope="_channel_message",
        reason="the examples of the AsyncAPI document are informative: HTTP-7 asks for the "
        "channels, their messages and resolvable $refs, not for examples",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime._remember_loop",
        kind=OUT_OF_REACH,
        reason="remembers the loop for publish_threadsafe(), the in-process API for other "
        "threads; canaux serve never publishes from another thread",
    ),
    Equivalent(
        path="canaux/protocol/session.py",
        scope="SessionState.forget_reply",
        kind=OUT_OF_REACH,
        reason="runs only after an internal_error [OPS-17], which a correct server never "
        "gives: no suite can provoke one over the wire",
    ),
    *(
        Equivalent(
            path="canaux/server/channels/channel.py",
            scope="Publication.spawn",
            before=before,
            kind=OUT_OF_REACH,
            reason="guards an application's misuse of the channel API (background work "
            "without a requester); the reference's own channels never do that",
        )
        for before in (
            "work.close()",
            'raise Refused(ErrorCode.FORBIDDEN, f"{self.channel}: background work needs a '
            'requester")',
        )
    ),
    *(
        Equivalent(
            path="canaux/server/channels/progress.py",
            scope=scope,
            kind=OUT_OF_REACH,
            reason="the scan runner behind the reference-only POST /tasks/scan (off without "
            "--scan-root): the spec defines progress events, not how a server makes them",
        )
        for scope in (
            "ProgressReporter",
            "Task",
            "TaskRunner",
            "ScanTask",
            "resolve_scan_path",
            "_list_files",
            "_sizes",
        )
    ),
    Equivalent(
        path="canaux/protocol/channels.py",
        scope="is_reserved",
        reason="only Catalogue._check_entry asks it, when the server is built (see there); "
        "a name the catalogue does not list is refused as unknown_channel either way",
    ),
    Equivalent(
        path="canaux/server/config.py",
        scope="ServerConfig.__post_init__",
        reason="validates the configuration once, when the server is built: a mutant here "
        "either refuses the power run's configuration (stillborn) or accepts it and serves "
        "exactly as before",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection._clock",
        operator="compare",
        before="if now is not None and now > self._now:",
        reason="with now equal to the last time, the mutant assigns the value already held",
    ),
    Equivalent(
        path="canaux/protocol/session.py",
        scope="SessionState.discard",
        before="self.discarded = True",
        reason="a second line of defence: a discarded session also leaves the registry (no "
        "resume finds it: resumed false) and the hub (no event reaches it), and its buffer "
        "and replies are cleared on the next lines",
    ),
    Equivalent(
        path="canaux/server/hub.py",
        scope="Hub.channels",
        reason="only Hub.drop() asks it, for a discarded session (which drops every event: "
        "ServerSession.deliver checks discarded) or a closed legacy link (whose closed queue "
        "drops it): the subscribers left behind cost memory, no client sees them",
    ),
    Equivalent(
        path="canaux/server/sessions.py",
        scope="SessionRegistry.discard",
        kind=OUT_OF_REACH,
        reason="the application's way to end a session; nothing in canaux serve calls it "
        "(expiry goes through the sans-I/O registry's own discard)",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.publish",
        before="self._remember_loop()",
        kind=OUT_OF_REACH,
        reason="remembers the loop for publish_threadsafe(), the in-process API for other "
        "threads; canaux serve never publishes from another thread",
    ),
    Equivalent(
        path="canaux/server/http_api.py",
        scope="scan_endpoint",
        kind=OUT_OF_REACH,
        reason="POST /tasks/scan is the reference's own scan runner (off without "
        "--scan-root), not part of the spec",
    ),
    *(
        Equivalent(
            path="canaux/server/channels/channel.py",
            scope=scope,
            kind=OUT_OF_REACH,
            reason="part of the channel API that only an application's own channel uses "
            "(state kept by the broker, a first event on subscribe); the reference's "
            "catalogue never runs it, so the suite, which tests that catalogue, cannot",
        )
        for scope in ("Publication.broadcast", "Channel.first_event")
    ),
    # -- judged after the run of seed 20261203 (tree 4bcba36, 2026-12-02) ------------------
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection.send_event_text",
        before='self._require_open("send an event")',
        reason="a guard of an invariant, an assert by another name: the door queues the "
        "welcome before it attaches the connection to its session (websocket.py: "
        "registry.welcome, then registry.attach), so an event only ever finds the connection "
        "OPEN, or CLOSED (answered by the line above)",
    ),
    Equivalent(
        path="canaux/server/legacy.py",
        scope="LegacyLink._chat",
        before="if len(self._requests) >= MAX_LEGACY_REQUESTS:",
        reason="MAX_LEGACY_REQUESTS (16 chat requests at once on one legacy socket, then a "
        "'chat.busy' notice) is the reference's own bound: LEGACY-9 lets a server choose it "
        "and does not announce it, so a server allowing 17 is as conformant (the reference's "
        "bound is tested in tests/reference/server/test_legacy.py)",
    ),
    Equivalent(
        path="canaux/protocol/frames.py",
        scope="<module>",
        before="StrictStr, Field(min_length=1, max_length=2048, pattern=SCHEMA_URI_PATTERN)",
        reason="bounds the schema URI of a welcome catalogue entry, a field only the server "
        "fills, from its own catalogue, whose URIs are a few dozen characters; no client frame "
        "carries one",
    ),
    *(
        Equivalent(
            path="canaux/protocol/codes.py",
            scope="<module>",
            operator="constant",
            contains=column,
            reason="the reconnect/resume columns of the close code table are the CLIENT's "
            "policy (CLIENT-4, read by canaux.client); the server only sends the codes, which "
            "are unchanged, and never reads those columns",
        )
        for column in ("reconnect=", "resume=")
    ),
    Equivalent(
        path="canaux/protocol/channels.py",
        scope="Catalogue._validator",
        before='raise LookupError(f"schema {schema_id!r} is not in the registry") from exc',
        reason="a catalogue naming a schema the registry lacks is an application's "
        "configuration error; every schema of the reference's catalogue is in its registry, "
        "so the lookup never fails",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.__init__",
        before="self.tasks = TaskRunner(self.broker, self.notices)",
        kind=OUT_OF_REACH,
        reason="the task runner serves only the reference-only POST /tasks/scan (off without "
        "--scan-root) and is closed at shutdown, after the suite has gone",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.close_connections",
        kind=OUT_OF_REACH,
        reason="runs only when the server shuts down (1001 to every connection), which no "
        "client can make it do; its one condition ('if pending:') only guards a log line",
    ),
    Equivalent(
        path="canaux/protocol/sessions.py",
        scope="ServerSessions._reserve",
        kind=OUT_OF_REACH,
        reason="keeps a request in flight while its effect is under way [OPS-9], a window "
        "that opens only while the effect awaits something that suspends (a remote broker, "
        "an application hook): the door handles one connection's frames one after another, "
        "and the in-process hub and the reference's channels finish an effect without "
        "yielding, so no copy can arrive in between (tests/reference/protocol/test_sessions.py "
        "checks it in-process); with the mutant, replies without effect are also kept, which "
        "only remembers more",
    ),
    Equivalent(
        path="canaux/protocol/limits.py",
        scope="Limits.__post_init__",
        reason="checks the limits table once, when canaux serve builds it from its options: "
        "a mutant here either refuses the power run's values (stillborn) or accepts them and "
        "serves exactly the same limits; no Limits is built at run time",
    ),
    Equivalent(
        path="canaux/protocol/backoff.py",
        scope="backoff_ceiling",
        kind=OUT_OF_REACH,
        reason="the client's reconnection delays (CLIENT-1); no server code calls them. "
        "Sampled once only because a Protocol's one-line method made the file look run "
        "(fixed in trials.reached_files: the file is no longer mutated)",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection.receive_text",
        before="if self._state is AWAITING_HELLO:",
        kind=OUT_OF_REACH,
        reason="the hello's size allowance is max(8192, max_frame_bytes) [HANDSHAKE-10]; the "
        "mutant applies it after the hello instead of before, which no client can see while "
        "max_frame_bytes >= 8192, as on the power run's server (65536): only a server "
        "announcing less (the config matrix's smallest limits, 4096) could show it",
    ),
    # -- judged after the run of seed 20261204 (tree 7e8fe10, 2026-12-02) ------------------
    Equivalent(
        path="canaux/protocol/codes.py",
        scope="CloseCode",
        before="ABNORMAL_CLOSURE = 1006",
        reason="1006 is what a peer records when a connection ended without a close frame; "
        "RFC 6455 forbids sending it, and the server never does: it only marks a lost "
        "connection closed with it, and no close frame goes out on a lost connection",
    ),
    Equivalent(
        path="canaux/server/sse.py",
        scope="SSEStream.__init__",
        before="self._closed = asyncio.Event()",
        kind=OUT_OF_REACH,
        reason="the event only tells a graceful shutdown (close_connections) that the stream "
        "is over; without it the stream's end raises after it was detached and uncounted, "
        "when nothing more is written: no client sees a difference, and no client can shut "
        "the server down",
    ),
    Equivalent(
        path="canaux/protocol/ijson.py",
        scope="IJsonError.__init__",
        before='super().__init__(f"{message}{where}")',
        reason="only the exception's text is lost, which goes into free-text messages (HTTP "
        "publish's 'body is not i-json: …'); the close reason and pointer come from "
        ".message and .pointer, which are still set",
    ),
    Equivalent(
        path="canaux/protocol/ijson.py",
        scope="_fast_check",
        before="while stack:",
        reason="the fast path then counts no member, so every object with a member fails its "
        "':' count and goes to the exact reader; only a top-level array or scalar passes "
        "unchecked, and a frame or a publish body that is not an object is refused as such "
        "either way",
    ),
    Equivalent(
        path="canaux/server/channels/progress.py",
        scope="<module>",
        before='_RANK = {"pending": 0, "running": 1, "done": 2, "failed": 2, "cancelled": 2}',
        after='_RANK = {"pending": (-1), "running": 1, "done": 2, "failed": 2, "cancelled": 2}',
        reason="pending stays the lowest rank: every comparison gives the same answer",
    ),
    Equivalent(
        path="canaux/server/legacy.py",
        scope="LegacyLink.run",
        before="expiry.cancel()",
        kind=OUT_OF_REACH,
        reason="a legacy socket's credential expiry timer exists only with a JWT "
        "authenticator [SECURITY-10]; the power run's server has none, so expiry is None",
    ),
    Equivalent(
        path="canaux/server/legacy.py",
        scope="LegacyLink.run",
        before="reader.cancel()",
        reason="the reader ends by itself when the peer answers the server's close or the "
        "socket drops, so the mutant only delays the link's cleanup until then; a peer that "
        "never answers a close keeps its socket longer, which no requirement bounds today "
        "(noted for #10)",
    ),
    Equivalent(
        path="canaux/protocol/outbound.py",
        scope="OutboundQueue.__init__",
        reason="checks the queue's limit when a connection is set up; the power run's limit "
        "(1024) passes either way, and the spec's floor is enforced by Limits",
    ),
    Equivalent(
        path="canaux/protocol/outbound.py",
        scope="OutboundQueue.clear",
        operator="delete",
        before="self._ready.clear()",
        reason="clear() runs only once the queue overflowed or the connection closes with "
        "4503, and every writer then stops before writing another frame: the WebSocket's "
        "checks close_code before each frame of a batch (or is cancelled), SSE and legacy "
        "check overflowed before take(); the frames left only wait in memory until the "
        "connection ends, at most the close timeout (SLOW-01 cuts a reader that stops reading "
        "and sees the same 4503 either way)",
    ),
    Equivalent(
        path="canaux/server/broker.py",
        scope="open_broker",
        kind=OUT_OF_REACH,
        reason="chooses the broker from canaux serve --broker; the power run's server uses "
        "the in-process one, and a Redis broker is tested by tests/reference (cluster)",
    ),
    Equivalent(
        path="canaux/server/channels/schema.py",
        scope="channel_document",
        kind=OUT_OF_REACH,
        reason="builds the schema document of an application's own channel (a schema given "
        "as a document); every channel of the reference's catalogue names a schema already "
        "in the registry, so the function returns on its first line",
    ),
    Equivalent(
        path="canaux/server/websocket.py",
        scope="WebSocketLink.go_away",
        kind=OUT_OF_REACH,
        reason="a /ws connection is sent away only by a graceful shutdown (1001, "
        "close_connections) or when its JWT expires (4440, SECURITY-10); the power run's "
        "server has no JWT and no client can shut it down",
    ),
    Equivalent(
        path="canaux/server/run.py",
        scope="CanauxUvicornServer.bound_port",
        before="return 0",
        reason="the port reported before uvicorn listens; the listening line is printed after "
        "startup, from a bound socket, so this value is never printed",
    ),
    Equivalent(
        path="canaux/protocol/frames.py",
        scope="_parse",
        before="first = exc.errors(include_url=False, include_input=False, "
        "include_context=True)[0]",
        after="first = exc.errors(include_url=False, include_input=False, "
        "include_context=True)[(-1)]",
        reason="with one member at fault the first error is the last; with several, OPS-8 "
        "and OPS-20 ask for a pointer to an offending member, and the last one is one",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection.welcome",
        before="return",
        reason="runs only when the connection closed before its welcome was sent: the mutant "
        "raises where the original returns, for a peer that is gone; the session is decided "
        "and recorded by the registry either way",
    ),
    # -- judged after the run of seed 20261205 (tree 9dead2e, 2026-12-02) ------------------
    Equivalent(
        path="canaux/server/legacy.py",
        scope="LegacyLink.run",
        before="await self._runtime.channels.subscribed(channel, self.identity, self._emit)",
        reason="/api/ws subscribes to system and progress, neither of which has a snapshot or "
        "retains its last event in the reference's catalogue: the call returns at once",
    ),
    Equivalent(
        path="canaux/server/config.py",
        scope="ServerConfig",
        before="conformance: bool = False",
        reason="a default the power run's command line sets (canaux serve --conformance)",
    ),
    Equivalent(
        path="canaux/protocol/sessions.py",
        scope="ServerSessions.hand_over",
        kind=OUT_OF_REACH,
        reason="hands an attached session over to ANOTHER process that resumed it (a cluster "
        "on a Redis broker, #13); the power run's server is one process on the in-process "
        "broker; tests/reference (cluster) covers it",
    ),
    Equivalent(
        path="canaux/server/run.py",
        scope="uvicorn_config",
        before='"timeout_graceful_shutdown": config.shutdown_timeout_s + config.close_timeout_s,',
        kind=OUT_OF_REACH,
        reason="bounds uvicorn's graceful shutdown, which no client can start",
    ),
    Equivalent(
        path="canaux/server/run.py",
        scope="_announce",
        before="flush=True,",
        after="flush=False,",
        reason="the listening lines go to stdout, not the wire; the power run's server has "
        "PYTHONUNBUFFERED=1, so they are flushed either way",
    ),
    # -- judged after the run of seed 20261206 (tree b0f0a15, 2026-12-02) ------------------
    Equivalent(
        path="canaux/server/access.py",
        scope="authenticate",
        before='raise Unauthorized("credentials expired")',
        kind=OUT_OF_REACH,
        reason="credentials that expire come only from an authenticator that returns a "
        "Principal with expires_at (JWT, SECURITY-10); the power run's server authenticates "
        "nobody (config.authenticate is None, the lines above return first)",
    ),
    Equivalent(
        path="canaux/server/sse.py",
        scope="events_endpoint.events",
        before='return error_response(503, ErrorCode.INTERNAL_ERROR, "server shutting down")',
        kind=OUT_OF_REACH,
        reason="answers an SSE request that arrives while the server shuts down "
        "(runtime.closing), which no client can make it do",
    ),
    Equivalent(
        path="canaux/server/legacy.py",
        scope="LegacyLink.__init__",
        before="self._ids = itertools.count(1)",
        reason="numbers the request values of a legacy socket's chat replies (legacy-1, "
        "legacy-2, ...): LEGACY-6 asks only that they be unique within the connection, which "
        "they are from any start (spec/legacy.md's legacy-1 is an example)",
    ),
    Equivalent(
        path="canaux/protocol/codes.py",
        scope="CloseCode",
        before="GOING_AWAY = 1001",
        kind=OUT_OF_REACH,
        reason="1001 is sent only while the server shuts down (runtime.aclose, and a "
        "WebSocket that arrives during it), which no client can make it do",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.aclose",
        kind=OUT_OF_REACH,
        reason="the server's shutdown, which no client can start",
    ),
    Equivalent(
        path="canaux/server/http_api.py",
        scope="_json_body",
        operator="boolean",
        contains="pointer=exc.pointer",
        reason="the pointer of a 400 bad_frame for a body that is not I-JSON is optional: "
        "HTTP-9 adds pointer for invalid_payload only, and the mutant only drops it",
    ),
    Equivalent(
        path="canaux/protocol/ijson.py",
        scope="_fast_check",
        before="members = 0",
        reason="the fast path's member count then never matches the ':' count, so every "
        "frame goes to the exact reader, which decides the same (only slower)",
    ),
    Equivalent(
        path="canaux/protocol/outbound.py",
        scope="OutboundQueue.drop_replies",
        reason="runs when the connection closes: its queue takes nothing more (closed) and no "
        "reply is decided after the close (send_reply returns on CLOSED), so the reply slots "
        "the mutant keeps are never released; it only holds their memory a little longer",
    ),
    Equivalent(
        path="canaux/protocol/sessions.py",
        scope="ServerSessions._forget_detached",
        before="return",
        reason="the early return for a session that is not detached: such a session is in "
        "neither map (_detached and _detached_by_identity change together), so going on only "
        "pops what is not there",
    ),
    Equivalent(
        path="canaux/server/channels/schema.py",
        scope="data_schema",
        kind=OUT_OF_REACH,
        reason="turns an application's pydantic model into a schema when the server is built; "
        "pydantic always returns a dict, and the reference's catalogue has no such channel",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection._receive_frame",
        before="self._events.append(PingReceived(frame.nonce))",
        reason="PingReceived only tells the I/O layer that a ping came; the pong is already "
        "queued by the lines above [HEARTBEAT-2] and no door acts on the event",
    ),
    Equivalent(
        path="canaux/server/channels/chat.py",
        scope="run_chat_request",
        before="silence.reschedule(loop.time() + timeout_s)",
        kind=OUT_OF_REACH,
        reason="moves the agent's silence deadline (CHAT-5) into the past, which cuts an "
        "answer at the agent's next real pause; the reference's echo agent never pauses "
        "longer than one loop pass (asyncio.sleep(0)), so it always finishes first, and no "
        "client can make the server's agent slow",
    ),
    # -- judged for #9 on 2026-12-02 afternoon (the admission survivor of seed 20261206) ----
    Equivalent(
        path="canaux/server/admission.py",
        scope="admission_protocol.AdmittedHTTPProtocol.on_response_complete",
        operator="boolean",
        before="if self._timer is None and self.cycle is previous and not "
        "self.transport.is_closing():",
        after="if (self._timer is None) or (self.cycle is previous) or (not "
        "self.transport.is_closing()):",
        reason="the deadline is armed again while one is still pending, which happens only "
        "when a response completes before its request does (an early 401 or 413 while the "
        "body is still coming): the old timer, no longer referenced, still fires at its own "
        "deadline, so a kept-alive connection that carries more requests after such an early "
        "answer gets a 408 and is closed at the first request's deadline, between two "
        "requests (checked by hand: an early 401, its body, then a GET /health every 0.5 s "
        "on the same connection with a 3 s handshake timeout; the original serves all ten, "
        "the mutant answers 408 at 3.0 s while idle). HTTP lets any server close a "
        "persistent connection between requests (RFC 9112 section 9.6; RFC 9110 section "
        "15.5.9: a 408 on an idle connection), SECURITY-13 bounds how LONG a head may take, "
        "never how SHORT a kept-alive connection may live, and the reference itself closes "
        "idle kept-alive connections after uvicorn's 5 s keep-alive, before its 10 s "
        "handshake timeout; every head still gets its deadline (the re-armed timer or the "
        "older, earlier one). A client can only tell it from another conformant server",
    ),
    Equivalent(
        path="canaux/server/websocket.py",
        scope="WebSocketLink._interrupt",
        before="if self._writer is not None and not self._writer.done():",
        kind=OUT_OF_REACH,
        reason="the writer task exists only on the fall-back path, when the app is mounted "
        "under another ASGI server that offers no canaux.writer extension; canaux serve's own "
        "protocol always offers the direct writer, so on the power run's server _writer is "
        "None (the mutants that then touch None fail at once and are killed)",
    ),
    # -- judged after the run of seed 20261207 (tree c73d31d, 2026-12-02) ------------------
    Equivalent(
        path="canaux/server/asyncapi.py",
        scope="build_document",
        before='elif name == "ping":',
        reason="decides which receive operations of GET /asyncapi.json declare a pong reply; "
        "HTTP-7 specifies the document's channels (addresses, messages, $defs, resolvable "
        "$refs), not its operations or replies, so either document is a conformant one",
    ),
    Equivalent(
        path="canaux/server/websocket.py",
        scope="WebSocketLink.run",
        before="self._timer = None",
        reason="forgets the core's deadline timer in run()'s finally, the line after "
        "cancelling it: the connection has ended and nothing arms a timer on it again; only "
        "the reference to a cancelled handle stays, until the link itself goes",
    ),
    Equivalent(
        path="canaux/protocol/outbound.py",
        scope="OutboundQueue.clear",
        before="self._exempt_count = self._exempt_bytes = 0",
        reason="the same as _ready.clear() above: clear() runs only once the queue "
        "overflowed or the connection closes with 4503, and nothing is queued or written to "
        "that connection afterwards, so the counters of its exempt frames (the welcome and "
        "a resume's replay) are never read again",
    ),
    Equivalent(
        path="canaux/protocol/frames.py",
        operator="constant",
        contains="pattern=CATALOGUE_NAME_PATTERN",
        reason="the length bound of a catalogue entry's name, which only the server's own "
        "catalogue holds (checked when the server is built; no client frame carries one): "
        "the reference's names are all far shorter, so the server serves the same catalogue "
        "(client frames' channel names are ChannelName, with its own bound)",
    ),
    Equivalent(
        path="canaux/server/access.py",
        scope="identity_of",
        kind=OUT_OF_REACH,
        reason="a helper exported for applications (the identity of a token); no door of the "
        "server calls it, so no request reaches it",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.publish_threadsafe",
        kind=OUT_OF_REACH,
        reason="publish_threadsafe() is the in-process API for other threads; no request "
        "reaches it",
    ),
    Equivalent(
        path="canaux/server/http_api.py",
        scope="_authorized",
        kind=OUT_OF_REACH,
        reason="checks the publish token of POST /tasks/scan only (HTTP publish authenticates "
        "through access.authenticate): the reference-only scan runner, off without "
        "--scan-root",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection.reply",
        before="if self._state is OPEN:",
        reason="a reply then no longer counts as a frame sent for the heartbeat, so the "
        "server may ping sooner than it must (heartbeat_ms after the last frame that was not "
        "a reply): HEARTBEAT-1 sets when a ping must come at the latest, never the earliest, "
        "and a client answers every ping either way",
    ),
    Equivalent(
        path="canaux/server/sessions.py",
        scope="SessionRegistry.start",
        kind=OUT_OF_REACH,
        contains="self._spawn(",
        reason="starts listening to the shared session store (Redis) for hand-overs; the "
        "power run's server keeps its sessions in memory (no store), so the line never runs",
    ),
    # Judged after the run of seed 20261208 (tree 7612248).
    Equivalent(
        path="canaux/server/sse.py",
        scope="events_endpoint.events",
        operator="delete",
        before="registry.discard(session)",
        kind=OUT_OF_REACH,
        reason="runs only when registry.checkpoint raises SessionsUnavailable, which it does "
        "only with a shared session store (without one it returns at once): the power run's "
        "server keeps its sessions in memory",
    ),
    Equivalent(
        path="canaux/server/sessions.py",
        scope="SessionRegistry._changed",
        contains="self._store is not None",
        kind=OUT_OF_REACH,
        reason="the branch runs for a session in _routed, and SessionRegistry.attach and the "
        "hand-over fill _routed only when there is a shared session store: the power run "
        "has none",
    ),
    Equivalent(
        path="canaux/protocol/sessions.py",
        scope="ServerSessions._forget_detached",
        operator="delete",
        before="del self._detached_by_identity[session.identity]",
        reason="leaves an empty per-identity map behind instead of removing it: every read "
        "of it (detached_count's len, detach's setdefault and its LIMIT-12 loop) sees zero "
        "sessions either way, so no frame differs; what differs is memory only, one empty "
        "OrderedDict per distinct identity that ever detached a session (the power run has "
        "one identity)",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection._take_token",
        operator="return",
        before="return False",
        reason="None instead of False: the only caller (receive_text) tests "
        "'if not self._take_token(now)', and both are false",
    ),
    Equivalent(
        path="canaux/protocol/channels.py",
        scope="Catalogue.standard",
        kind=OUT_OF_REACH,
        reason="Catalogue.standard is called by the reference's unit tests only: the server "
        "builds its catalogue from server/channels/standard.py standard_channels",
    ),
    Equivalent(
        path="canaux/server/channels/chat.py",
        scope="run_chat_request",
        contains="if close is not None:",
        reason="with the test negated, an agent's reply iterator is not closed explicitly "
        "(and 'await None()' raises a TypeError the suppress(Exception) around it swallows): "
        "the reference's agent is EchoAgent, whose generator holds nothing to release, and "
        "the event loop's async-generator hooks finalise it once collected; no event differs",
    ),
    Equivalent(
        path="canaux/server/legacy.py",
        scope="_admitted",
        operator="return",
        before="return False, None",
        reason="the line runs after 'await websocket.close()' before accept, so the HTTP 403 "
        "[SECURITY-14] is already written; the unpacking of None then raises in the endpoint "
        "and uvicorn logs it and closes a transport that is already closing: the client sees "
        "the same 403 and end",
    ),
    Equivalent(
        path="canaux/server/collector.py",
        scope="CollectorPacing.stop",
        kind=OUT_OF_REACH,
        reason="called once, when the server shuts down (run.py, after serving stopped): no "
        "case runs while the server stops",
    ),
    Equivalent(
        path="canaux/server/channels/channel.py",
        scope="Publication.update_state",
        kind=OUT_OF_REACH,
        reason="the API an application's own channel hooks call; no channel of the reference "
        "calls it (playqueue, progress and state-keyed publishes go to broker.update_state "
        "directly)",
    ),
    Equivalent(
        path="canaux/protocol/ijson.py",
        scope="_fast_check",
        operator="arith",
        before="members += len(item)",
        reason="the member count then never equals the count of colons when an object has "
        "a member, so every such frame raises _Slow and goes to the exact reader, whose "
        "verdict the fast path only ever repeats (TRANSPORT-12): slower, the same answers",
    ),
    Equivalent(
        path="canaux/server/ws_protocol.py",
        scope="CoalescingWebSocketProtocol.handle_connect",
        contains="if scope is not None:",
        reason="negated: an upgraded connection's scope lacks the direct-writer extension, so "
        "the app writes through the ASGI fall-back path (the one used under other ASGI "
        "servers: the same frames); a refused upgrade raises on None['extensions'] only "
        "after uvicorn's handle_connect wrote the refusal and closed the transport",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.closing",
        kind=OUT_OF_REACH,
        reason="true only while the server shuts down (the SSE 503 and the /ws refusal "
        "while closing): no case runs while the server stops",
    ),
    Equivalent(
        path="canaux/server/channels/standard.py",
        scope="standard_channels",
        operator="delete",
        before="channels += [",
        reason="the catalogue loses chat, playqueue, system and progress: each is a profile "
        "a server MAY claim (CHANNEL-15 binds a server that claims it), so this is another "
        "conformant server (conformance.* only); the suite skips the profiles' cases as not "
        "applicable",
    ),
    Equivalent(
        path="canaux/protocol/frames.py",
        scope="<module>",
        operator="constant",
        before="StrictStr, Field(min_length=22, max_length=128, pattern=SESSION_ID_PATTERN)",
        after="StrictStr, Field(min_length=22, max_length=129, pattern=SESSION_ID_PATTERN)",
        reason="SESSION_ID_PATTERN (^[A-Za-z0-9_-]{22,128}$) bounds the length to 128 too: a "
        "129-character id is still refused with 4400, only the reason's wording changes "
        "(checked: ENV-HELLO-RESUME-SESSION-LONG passes this mutant)",
    ),
    Equivalent(
        path="canaux/protocol/frames.py",
        scope="<module>",
        operator="constant",
        before="StrictStr, Field(min_length=22, max_length=128, pattern=SESSION_ID_PATTERN)",
        after="StrictStr, Field(min_length=21, max_length=128, pattern=SESSION_ID_PATTERN)",
        reason="SESSION_ID_PATTERN (^[A-Za-z0-9_-]{22,128}$) requires 22 characters too: a "
        "21-character id is still refused with 4400",
    ),
    Equivalent(
        path="canaux/server/access.py",
        scope="http_may_publish",
        kind=OUT_OF_REACH,
        reason="reached for a publisher other than the backend, i.e. a client token of an "
        "authenticator; the power run's server has none (its HTTP publishes carry the "
        "backend's publish token)",
    ),
    # judged after the run of seed 20261209
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection.receive_bytes",
        operator="delete",
        before="return",
        reason="the early return for a binary frame on a CLOSED connection: without it the "
        "connection notes the time received and calls close(), which returns at once on a "
        "CLOSED connection; a closed connection arms no timer, so the time drives nothing",
    ),
    Equivalent(
        path="canaux/server/admission.py",
        scope="admission_protocol.AdmittedHTTPProtocol._refuse",
        before="self.transport = transport",
        reason="the 503 of a refused connection is written on the transport argument, and "
        "every method of a refused protocol (data_received, eof_received, connection_lost) "
        "returns at its _refused test before it would read self.transport",
    ),
    Equivalent(
        path="canaux/server/ws_protocol.py",
        scope="CoalescingWebSocketProtocol._end_now",
        before='sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))',
        reason="without SO_LINGER 0 the abort still closes the server's socket within "
        "TRANSPORT-23's 15 s; the kernel keeps the orphaned connection's send buffer until "
        "it gives up on it instead of freeing it at once, and answers a client that writes "
        "with a reset either way (SLOW-01's never-reading reader sees the same end)",
    ),
    Equivalent(
        path="canaux/server/sessions.py",
        scope="SessionRegistry._on_handover",
        kind=OUT_OF_REACH,
        reason="a session handed over by another node of a cluster (a shared store on "
        "Redis, #13); the power run's server is one process on the in-process broker "
        "(tests/reference/server cluster tests cover it)",
    ),
    Equivalent(
        path="canaux/protocol/sessions.py",
        scope="ServerSession.emit",
        before="route(self._state.id, channel, frames.dumps(data))",
        kind=OUT_OF_REACH,
        reason="the route is set only for a session whose events come back through a "
        "cluster's broker (another node holds the channel state); the power run's server is "
        "one process, where emit delivers directly (the line after)",
    ),
    Equivalent(
        path="canaux/protocol/server.py",
        scope="ServerConnection._receive_frame",
        before="self._held_pongs = []",
        kind=OUT_OF_REACH,
        reason="a ping received after the hello and before the welcome: on one process the "
        "hello is answered in the same call that reads it, so the connection is OPEN by the "
        "next frame; only a resume waiting for a cluster's shared store leaves the gap",
    ),
    Equivalent(
        path="canaux/server/websocket.py",
        scope="WebSocketLink._permits",
        reason="the identity handed to the access policies: the one policy of the power "
        "run's catalogue (conformance.forbidden) refuses every identity, so which identity "
        "it is given changes no answer; policies that depend on the identity are an "
        "application's own (CHANNEL-13)",
    ),
    Equivalent(
        path="canaux/protocol/channels.py",
        scope="_narrow",
        before="continue",
        reason="a second pass descends into a union nested inside the branch the first pass "
        "chose; the publish schemas of the power run's catalogue have one union level "
        "(playqueue's command oneOf; chat and conformance.* none), so the first pass already "
        "ends on a keyword that is not a union and both versions return the same error",
    ),
    Equivalent(
        path="canaux/server/websocket.py",
        scope="WebSocketLink._answer",
        before="if frame.id in self.conn.pending_replies:",
        kind=OUT_OF_REACH,
        reason="inside the handler of an exception raised while the server handles a frame "
        "(an internal_error answer): no frame of the suite makes the reference fail",
    ),
    Equivalent(
        path="canaux/server/admission.py",
        scope="Admission._pass_begins",
        reason="how many waiting hellos one event-loop pass serves (ADMIT_PER_PASS): a "
        "scheduling choice that spreads a burst of handshakes over passes so other "
        "connections' frames are not delayed behind it (SECURITY-4); every hello is still "
        "answered, and the delay is a matter of timing, which the suite never asserts",
    ),
    Equivalent(
        path="canaux/server/admission.py",
        scope="admission_ws_protocol",
        before="primed = False",
        reason="whether the first WebSocket protocol instance seeds its class's shared key "
        "table: memory per idle connection (CPython's key-sharing dictionaries), no "
        "difference on the wire",
    ),
    Equivalent(
        path="canaux/server/legacy.py",
        scope="<module>",
        before="MAX_LEGACY_REQUESTS = 16",
        reason="the reference's own bound on chat requests running at once on one legacy "
        "socket (then a 'chat.busy' notice): LEGACY-9 lets a server choose it and does not "
        "announce it, so 15 is as conformant as 16 (tests/reference/server/test_legacy.py "
        "checks that the bound, whatever its value, is enforced as LEGACY-9 says)",
    ),
    Equivalent(
        path="canaux/server/runtime.py",
        scope="ServerRuntime.__init__",
        before="self._owns_broker = broker is None or isinstance(broker, str)",
        kind=OUT_OF_REACH,
        reason="read only by aclose when the server shuts down (whether to close the "
        "broker): no case runs while the server stops",
    ),
)


def judged_equivalent(mutation: Mutation, source: str) -> Equivalent | None:
    """The entry that judges ``mutation`` (applied to ``source``) equivalent, if any."""
    before, after = mutation.diff(source)
    for entry in EQUIVALENTS:
        if entry.matches(mutation, before, after):
            return entry
    return None
