"""Client case: the Hypothesis state machine (issue 12 item 5; see client/machine.py)."""

from __future__ import annotations

import asyncio
import threading

from canaux_conformance.client.cases import client_case
from canaux_conformance.client.context import ClientCaseContext
from canaux_conformance.client.machine import run_client_machine
from canaux_conformance.machine_run import MachineBudget

_EXAMPLES = {"quick": 3, "default": 10, "thorough": 30}
"""Examples per budget: each one starts a fresh adapter process (about half a second)."""
_STEPS = {"quick": 12, "default": 25, "thorough": 40}
_SHRINK_SECONDS = {"quick": 20.0, "default": 60.0, "thorough": 180.0}


@client_case(
    id="CL-MACHINE-01",
    requirements=(
        "CLIENT-2",
        "CLIENT-3",
        "CLIENT-6",
        "CLIENT-7",
        "CLIENT-9",
        "RESUME-1",
        "RESUME-5",
        "RESUME-6",
        "HEARTBEAT-2",
    ),
    title="stateful machine: application operations and server faults interleaved, checked "
    "every step",
    timeout=900.0,
)
async def cl_machine_01(ctx: ClientCaseContext) -> None:
    """Hypothesis interleaves subscribe, unsubscribe and publish with events, answers,
    refusals, repeated seqs, gaps, pings, cuts, closes, refused attempts, events while the
    client is away, and welcomes with ``resumed`` true (a replay, maybe with a duplicate) or
    false; after every step the application's observations are compared with the model. A
    failure shows the shrunk steps (adapter commands and server actions) and the transcript."""
    name = ctx.budget.name
    budget = MachineBudget(
        max_examples=_EXAMPLES.get(name, 10),
        step_count=_STEPS.get(name, 25),
        shrink_seconds=_SHRINK_SECONDS.get(name, 60.0),
    )
    stop = threading.Event()
    try:
        result = await asyncio.to_thread(
            run_client_machine,
            ctx.adapter_argv,
            budget,
            seed=ctx.seed,
            timeout=ctx.timeout,
            stop=stop,
        )
    finally:
        stop.set()  # a cancelled case must not leave the machine running in its thread
    ctx.note(
        f"client machine: seed {result.seed}, {result.examples} examples, {result.steps} "
        f"steps, {result.events} events checked"
    )
