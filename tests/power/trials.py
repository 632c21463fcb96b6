"""One trial: a copy of the reference package, at most one mutation, a server, the suite.

The checkout is never touched. Each trial copies ``reference/canaux`` into a fresh temporary
folder, writes the mutated file there, starts ``python -m canaux serve --conformance --port 0``
(with :data:`SERVER_ARGS`) with ``PYTHONPATH`` pointing at the copy (the copy wins over the
editable install: ``PYTHONPATH`` comes first on ``sys.path``; the control trial checks it),
reads the listening line, then runs ``canaux-conformance URL --quick --seed S`` with every
endpoint and every profile named, so no profile is dropped because an endpoint stopped
answering, and with the server's bound on detached sessions in all (:data:`DETACHED_TOTAL`),
so that DETACH-01 runs. The suite runs in a clean environment (it never imports ``canaux``;
here it could not even see the mutant).

Verdicts (:class:`Outcome`): a mutant is KILLED when a case fails, errors or misses a SHOULD,
when the suite exits non-zero (its verdict "incomplete" included: a requirement that applies
went unchecked), when the server dies, or when the whole run outlives its timeout; STILLBORN
when its server never prints the listening line (it fails to import or to start: not a
behaviour the suite could judge); SURVIVED otherwise.
"""

from __future__ import annotations

import ast
import contextlib
import enum
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from canaux_conformance.target import LISTENING_RE, REFERENCE_SERVER_ARGS, derive_urls
from tests.power.mutations import Mutation, apply

__all__ = [
    "DETACHED_TOTAL",
    "IMPORTED",
    "PROFILES",
    "RAN",
    "SERVER_ARGS",
    "Outcome",
    "Trial",
    "TrialConfig",
    "confirmed",
    "reached_files",
    "run_trial",
]

PROFILES = ("core", "chat", "playqueue", "system", "progress", "sse", "legacy")
"""Every profile, named on the command line so that none is left out by discovery."""

MAX_HANDSHAKES = 64
"""The server's bound on connections in their opening handshake (``--max-handshakes``), told to
the suite too, so that HS-14 checks it [SECURITY-12]: small enough to cost HS-14 a fraction of
a second, large enough for the handshakes the suite's concurrent cases have under way."""

DETACHED_TOTAL = 64
"""The server's bound on detached sessions in all (``canaux serve --max-detached-total``),
given to the suite as well (``--max-detached-total``): welcome does not announce it [LIMIT-13],
so DETACH-01 runs in every trial only when told. Small, so the case's 65 sessions take about a
second; no smaller than the default ``max_detached_sessions`` (32), as the reference requires;
and large enough that no other case loses a session it means to resume to the bound."""

SERVER_ARGS: tuple[str, ...] = (
    *REFERENCE_SERVER_ARGS,
    "--max-detached-total",
    str(DETACHED_TOTAL),
)
"""``canaux serve`` options of every trial: the suite's usual ones, and the bound above."""

KILLING_VERDICTS = ("fail", "error", "non-strict")
PUBLISH_TOKEN = "power-" + os.urandom(6).hex()


class Outcome(enum.Enum):
    KILLED = "killed"
    SURVIVED = "survived"
    STILLBORN = "stillborn"


@dataclass(frozen=True)
class TrialConfig:
    package: Path
    """The reference package to copy (``reference/canaux``)."""
    suite_seed: int = 1
    timeout: float = 180.0
    """Seconds for the whole suite run against one mutant."""
    startup_timeout: float = 30.0


@dataclass(frozen=True)
class Trial:
    mutation: Mutation | None
    outcome: Outcome
    how: str
    """What killed it (``fail``, ``error``, ``non-strict``, ``timeout``, ``crash``, ``exit 2``…),
    why it is stillborn, or ``""`` for a survivor."""
    killers: tuple[str, ...] = ()
    """``CASE-ID [REQ-ID]`` of every case that failed, errored or missed a SHOULD."""
    passed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    duration: float = 0.0
    executed: dict[str, frozenset[int]] = field(default_factory=dict)
    """Lines the server executed, by file relative to the copy (control trial only)."""
    note: str = ""
    messages: dict[str, str] = field(default_factory=dict)
    """What the suite said of each case that did not pass (first 300 characters)."""


@contextlib.contextmanager
def _copy(package: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="canaux-power-") as tmp:
        root = Path(tmp)
        shutil.copytree(
            package, root / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        yield root


class _Server:
    """A ``canaux serve`` subprocess whose merged output is read line by line on a thread."""

    def __init__(self, root: Path, *, coverage: Path | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(
            PYTHONPATH=str(root),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            CANAUX_PUBLISH_TOKEN=PUBLISH_TOKEN,
        )
        flags = ["-m", "coverage", "run", f"--rcfile={coverage}"] if coverage else []
        command = [sys.executable, *flags, "-m", "canaux", "serve", "--host", "127.0.0.1"]
        command += ["--port", "0", *SERVER_ARGS]
        command += ["--max-handshakes", str(MAX_HANDSHAKES)]
        self.process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    def listening_url(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            found = LISTENING_RE.search(line)
            if found:
                return found.group("url")
        return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)


def _suite_command(url: str, seed: int, report_dir: Path, only: Sequence[str]) -> list[str]:
    urls = derive_urls(url)
    selection = [arg for case in only for arg in ("--only", case)]
    return [
        sys.executable, "-m", "canaux_conformance", url, "--quick", "--seed", str(seed),
        "--max-handshakes", str(MAX_HANDSHAKES),
        "--sse-url", urls["sse"], "--publish-url", urls["publish"],
        "--publish-token", PUBLISH_TOKEN, "--test-instance", "--profile", ",".join(PROFILES),
        "--max-detached-total", str(DETACHED_TOTAL),
        "--report-dir", str(report_dir), "--no-transcripts", *selection,
    ]  # fmt: skip


def _suite_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run_trial(
    config: TrialConfig,
    mutation: Mutation | None,
    *,
    control: bool = False,
    only: Sequence[str] = (),
) -> Trial:
    """Run the suite against the reference with ``mutation`` applied (``None``: unmutated);
    ``only``: just these case IDs; ``control``: also record the lines the server runs."""
    started = time.monotonic()
    with _copy(config.package) as root:
        if mutation is not None:
            target = root / mutation.path
            target.write_text(apply(target.read_text(encoding="utf-8"), mutation), "utf-8")
        rc = _coverage_rc(root, config.package.name) if control else None
        server = _Server(root, coverage=rc)
        try:
            url = server.listening_url(config.startup_timeout)
            if url is None:
                tail = " / ".join(line for line in server.lines[-3:] if line.strip())
                return Trial(mutation, Outcome.STILLBORN, tail[-300:] or "no listening line")
            report_dir = root / "report"
            try:
                done = subprocess.run(
                    _suite_command(url, config.suite_seed, report_dir, only),
                    env=_suite_env(),
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=config.timeout,
                )
            except subprocess.TimeoutExpired:
                return Trial(
                    mutation, Outcome.KILLED, "timeout", duration=time.monotonic() - started
                )
            alive = server.alive()
        finally:
            server.stop()
        return _judge(
            mutation,
            done.returncode,
            report_dir / "report.json",
            alive=alive,
            duration=time.monotonic() - started,
            executed=_executed(root) if control else {},
            output=done.stdout + done.stderr,
        )


def _judge(
    mutation: Mutation | None,
    status: int,
    report: Path,
    *,
    alive: bool,
    duration: float,
    executed: dict[str, frozenset[int]],
    output: str,
) -> Trial:
    cases: Sequence[dict[str, object]] = []
    if report.is_file():
        cases = json.loads(report.read_text(encoding="utf-8"))["cases"]
    killers = tuple(
        f"{c['id']} [{c.get('requirement') or '-'}]"
        for c in cases
        if c["verdict"] in KILLING_VERDICTS
    )
    passed = tuple(str(c["id"]) for c in cases if c["verdict"] == "pass")
    skipped = tuple(str(c["id"]) for c in cases if c["verdict"] == "skipped")
    verdicts = {str(c["verdict"]) for c in cases}
    messages = {
        str(c["id"]): str(c.get("message") or "")[:300] for c in cases if c["verdict"] != "pass"
    }
    if killers:
        how = next(v for v in KILLING_VERDICTS if v in verdicts)
    elif not alive:
        how = "crash"
    elif status == 2 and cases:
        # Every case passed or was skipped, yet the suite would not say "conformant": a
        # requirement that applies went unchecked (spec/index.md "Conformance").
        how = "incomplete"
    elif status != 0:
        last = output.strip().splitlines()[-1:] or [""]
        how = f"exit {status}: {last[0][:200]}"
    else:
        how = ""
    outcome = Outcome.KILLED if how else Outcome.SURVIVED
    return Trial(
        mutation, outcome, how, killers, passed, skipped, duration, executed, messages=messages
    )


CONFIRM_AT_MOST = 3
"""A kill by this many cases or fewer is replayed (those cases only) before it counts."""


def confirmed(config: TrialConfig, trial: Trial) -> Trial:
    """``trial``, or a survivor if its few killing cases all pass when run again.

    A kill that rests on one or two cases may be a timing accident of a loaded machine;
    replaying just those cases against the same mutant tells a real kill from a flake.
    """
    if trial.outcome is not Outcome.KILLED or not 0 < len(trial.killers) <= CONFIRM_AT_MOST:
        return trial
    cases = [killer.split(" ", 1)[0] for killer in trial.killers]
    replay = run_trial(config, trial.mutation, only=cases)
    if replay.outcome is Outcome.KILLED:
        return trial
    note = f"killed by {', '.join(trial.killers)} once, not on a replay of those cases (flaky)"
    return replace(trial, outcome=Outcome.SURVIVED, how="", killers=(), note=note)


def _coverage_rc(root: Path, package: str) -> Path:
    # uvicorn turns SIGTERM into a normal exit, and coverage's own handler covers the rest.
    rc = root / "coveragerc"
    rc.write_text(
        f"[run]\ndata_file = {root / '.coverage'}\nsource = {root / package}\nsigterm = true\n",
        encoding="utf-8",
    )
    return rc


def _executed(root: Path) -> dict[str, frozenset[int]]:
    import coverage  # only the control trial needs it

    data = coverage.CoverageData(basename=str(root / ".coverage"))
    data.read()
    result: dict[str, frozenset[int]] = {}
    for name in data.measured_files():
        path = Path(name)
        if path.is_relative_to(root):
            result[path.relative_to(root).as_posix()] = frozenset(data.lines(name) or ())
    return result


RAN = "ran"
IMPORTED = "imported"


def reached_files(sources: dict[str, str], executed: dict[str, frozenset[int]]) -> dict[str, str]:
    """The files of ``sources`` the server can use, each with how: :data:`RAN` when it ran a
    line of a function body there, :data:`IMPORTED` when it ran none but a :data:`RAN` file
    imports it (its constants and tables count; its functions are another program's, e.g.
    the client's backoff next to the close codes)."""
    ran: set[str] = set()
    for path, source in sources.items():
        lines = executed.get(path, frozenset())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = set(range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1))
                # A one-line function (``def f(self) -> int: ...``, a Protocol's method) has
                # its body on the def line, which runs when the module is imported.
                body.discard(node.lineno)
                if lines & body:
                    ran.add(path)
                    break
    reached, todo = set(ran), list(ran)
    while todo:
        for imported in _imports(todo.pop(), sources):
            if imported not in reached:
                reached.add(imported)
                todo.append(imported)
    return {path: RAN if path in ran else IMPORTED for path in sorted(reached)}


def _imports(path: str, sources: dict[str, str]) -> set[str]:
    """The files of ``sources`` that the module at ``path`` imports."""
    package = path.split("/")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(sources[path])):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = [*base, *(node.module or "").split(".")] if node.module else base
            dotted = ".".join(part for part in module if part)
            names.add(dotted)
            names |= {f"{dotted}.{alias.name}" for alias in node.names}
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        stems = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        for stem in stems:
            found |= {c for c in (f"{stem}.py", f"{stem}/__init__.py") if c in sources}
    return found
