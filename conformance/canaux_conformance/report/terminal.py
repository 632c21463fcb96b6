"""The terminal view: live progress while the cases run, then a summary (spec "Conformance").

The summary gives counts per profile and verdict, then each failure with the requirement it
breaks, the requirement's text and the transcript (frames per client, replayable), then the
total time and the seed to reproduce the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from canaux_conformance.cases import Case
from canaux_conformance.outcomes import Verdict
from canaux_conformance.results import VERDICT_ORDER, CaseResult, RunResult, requirement_index
from canaux_conformance.runner import Progress as RunnerProgress

__all__ = ["VERDICT_STYLES", "LiveProgress", "print_summary"]

VERDICT_STYLES: dict[Verdict, str] = {
    Verdict.PASS: "green",
    Verdict.FAIL: "bold red",
    Verdict.NON_STRICT: "yellow",
    Verdict.SKIPPED: "dim",
    Verdict.ERROR: "bold magenta",
}


class LiveProgress(RunnerProgress):
    """A rich progress bar, with one line printed per problem as soon as it is known."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("conformance", total=None, current="")
        self._running: list[str] = []

    def __enter__(self) -> LiveProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def run_started(self, run: RunResult, cases: Sequence[Case]) -> None:
        self.console.print(f"[bold]canaux-conformance[/] → {run.target_url}")
        for note in run.notes:
            self.console.print(f"  [dim]{note}[/]")
        self._bar.update(self._task, total=len(cases))

    def case_started(self, case: Case) -> None:
        self._running.append(case.id)
        self._bar.update(self._task, current=" ".join(self._running[-3:]))

    def case_finished(self, result: CaseResult) -> None:
        if result.id in self._running:
            self._running.remove(result.id)
        self._bar.update(self._task, advance=1, current=" ".join(self._running[-3:]))
        if result.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.NON_STRICT):
            style = VERDICT_STYLES[result.verdict]
            line = Text.assemble(
                (f"{result.verdict:>10} ", style), (result.id, "bold"), f"  {result.message}"
            )
            self.console.print(line, overflow="fold")


def _counts_table(run: RunResult) -> Table:
    table = Table(title="verdicts per profile", title_justify="left")
    table.add_column("profile")
    for verdict in VERDICT_ORDER:
        table.add_column(str(verdict), justify="right", style=VERDICT_STYLES[verdict])
    table.add_column("total", justify="right")
    rows = sorted(run.by_profile().items())
    for profile, counts in rows:
        cells = [str(counts.get(v, 0)) for v in VERDICT_ORDER]
        table.add_row(profile, *cells, str(counts.total()))
    total = run.counts()
    table.add_section()
    table.add_row("all", *[str(total.get(v, 0)) for v in VERDICT_ORDER], str(total.total()))
    return table


def _problem_panel(result: CaseResult, *, show_transcript: bool) -> Panel:
    index = requirement_index()
    cited = result.requirement or (result.requirements[0] if result.requirements else "")
    body: list[Text] = [Text(result.message)]
    text = index.get(cited, {}).get("text")
    if text:
        body.append(Text(f"{cited}: {text}", style="italic"))
    if result.traceback:
        body.append(Text(result.traceback, style="dim"))
    if show_transcript and result.transcript_text:
        body.append(Text(result.transcript_text, style="dim"))
    style = VERDICT_STYLES[result.verdict]
    title = f"[{style}]{result.verdict}[/] {result.id} [{result.level} {cited}] {result.title}"
    return Panel(Group(*body), title=title, title_align="left", border_style=style)


def print_summary(run: RunResult, console: Console, *, transcripts: bool = True) -> None:
    """Print the end-of-run summary."""
    console.print(_counts_table(run))
    for result in run.problems():
        console.print(_problem_panel(result, show_transcript=transcripts))
    status = run.exit_status
    word, _, why = run.verdict_text().partition(": ")
    style = {0: "bold green", 1: "bold red", 2: "bold magenta"}[status]
    verdict = f"[{style}]{word}[/]: {escape(why)}"
    for requirement, reasons in run.unverified().items():
        console.print(f"[magenta]unchecked[/] {requirement}: {escape(reasons[0])}")
    console.print(
        f"{verdict} · {len(run.results)} cases in {run.duration:.1f}s · "
        f"seed {run.seed} · budget {run.budget} · exit {status}"
    )
    console.print(f"[dim]reproduce: {run.reproduce_command()}[/]")
