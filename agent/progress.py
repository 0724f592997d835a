"""A job that runs on a worker thread and reports while it runs: the conversion and hub-pull jobs
share it, so a job always ends in one report, done or failed, however it ends."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from llmesh.common.errors import MeshError

log = logging.getLogger("llmesh.agent")

REPORT_EVERY_S = 0.5


async def run_reporting(work: Callable[[], dict], send: Callable[..., None], what: str,
                        every_s: float = REPORT_EVERY_S) -> None:
    """Run ``work()`` on a worker thread, sending ``running`` every ``every_s`` seconds while it
    runs, then ``done`` with what it returned (``send``'s keyword arguments) or ``failed`` with
    the error; ``what`` names the job in the log and in an unexpected error."""
    async def ticker():
        while True:
            await asyncio.sleep(every_s)
            send("running")

    tick = asyncio.create_task(ticker())
    try:
        result = await asyncio.get_running_loop().run_in_executor(None, work)
        send("done", **result)
    except MeshError as exc:
        send("failed", error=str(exc))
    except Exception as exc:  # a bug must end the job visibly
        log.exception("%s failed", what)
        send("failed", error=f"{what} failed: {type(exc).__name__}: {exc}")
    finally:
        tick.cancel()
