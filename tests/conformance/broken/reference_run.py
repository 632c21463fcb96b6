"""One conformance case against the reference served in-process: the run every patched twin
(``*_faults.py``) is judged by, once with the reference as it is and once with the fault in."""

from __future__ import annotations

import asyncio

from canaux.server.config import ServerConfig
from canaux.server.testing import running_server
from canaux_conformance.outcomes import Verdict
from canaux_conformance.runner import RunConfig, run

__all__ = ["one_case"]


async def _one_case(
    case_id: str, seed: int, case_timeout: float, publish: bool
) -> tuple[Verdict, str | None, str]:
    token = "reference-run-token" if publish else None
    config = (
        ServerConfig(conformance=True, publish_token=token)
        if publish
        else ServerConfig(conformance=True)
    )
    async with running_server(config) as server:
        base = f"127.0.0.1:{server.port}"
        result = await run(
            RunConfig(
                url=f"ws://{base}/ws",
                publish_url=f"http://{base}/publish" if publish else None,
                publish_token=token,
                only=(case_id,),
                budget="quick",
                seed=seed,
                timeout=case_timeout,
            )
        )
    (outcome,) = result.results
    return outcome.verdict, outcome.requirement, outcome.message


def one_case(
    case_id: str, *, seed: int, timeout: float = 3.0, publish: bool = False
) -> tuple[Verdict, str | None, str]:
    """Run ``case_id`` alone (quick budget) on a fresh reference server: verdict, requirement,
    message; ``publish``: with the server's ``POST /publish`` as the run's publish URL."""
    return asyncio.run(_one_case(case_id, seed, timeout, publish))
