"""The conversion jobs the coordinator sends this agent: a model or LoRA adapter under one of its
roots becomes a GGUF in the store's converted/ folder, with progress reported as the job runs."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from llmesh.agent.progress import run_reporting
from llmesh.common.errors import InvalidArgument
from llmesh.v1 import agent_link_pb2 as link_pb


class ConversionJobs:
    def __init__(self, check_under_roots: Callable[[Path], Path], out_dir: Path,
                 report: Callable[[link_pb.JobProgress], None]):
        self.check_under_roots = check_under_roots  # a source path -> its real path, or InvalidArgument
        self.out_dir = out_dir
        self.report = report
        self._jobs: dict[str, asyncio.Task] = {}

    def start(self, command: link_pb.ConvertModel) -> None:
        if command.job_id in self._jobs and not self._jobs[command.job_id].done():
            return
        self._jobs[command.job_id] = asyncio.create_task(self._convert(command))

    async def _convert(self, command: link_pb.ConvertModel) -> None:
        progress = {"done": 0, "total": 0}

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(done=done, total=total)

        def send(state: str, error: str = "", path: str = "") -> None:
            self.report(link_pb.JobProgress(job_id=command.job_id, state=state, bytes_done=progress["done"],
                                            bytes_total=progress["total"], error=error, copy_path=path))

        await run_reporting(lambda: {"path": str(self._convert_now(command, on_progress))}, send,
                            f"conversion {command.job_id}")

    def _convert_now(self, command: link_pb.ConvertModel, on_progress) -> Path:
        # numpy-heavy: loaded when a conversion runs
        from llmesh.agent.convert.lora import convert_lora_to_gguf
        from llmesh.agent.convert.model import convert_model

        source = self.check_under_roots(Path(command.source_path))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"{command.out_name.replace('/', '--')}.gguf"
        if out.exists():
            return out  # the same request again: the file is already there
        if command.kind == "lora":
            base = self.check_under_roots(Path(command.base_path)) if command.base_path else None
            convert_lora_to_gguf(source, out, base_config=base, progress=on_progress)
        elif command.kind == "model":
            convert_model(source, out, quant=command.quant or "F16", progress=on_progress)
        else:
            raise InvalidArgument(f"cannot convert a {command.kind!r} to GGUF")
        return out

    def cancel_all(self) -> None:
        for task in self._jobs.values():
            task.cancel()
