"""Conversions and serving on this agent: GGUF conversion jobs, supervised llama.cpp
servers, Ollama deployments, and prompt tests against what is served here."""
from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.agent.deployments")


class Deployments:
    def __init__(self, runtime, report):
        self.runtime = runtime
        self.report = report  # JobProgress -> None
        self.servers: dict[str, object] = {}  # deployment id -> LlamaServer
        self._jobs: dict[str, asyncio.Task] = {}

    @property
    def converted_dir(self) -> Path:
        return self.runtime.store.models_dir / "converted"

    # -- conversion -----------------------------------------------------------------------

    def start_conversion(self, command: link_pb.ConvertModel) -> None:
        if command.job_id in self._jobs and not self._jobs[command.job_id].done():
            return
        self._jobs[command.job_id] = asyncio.create_task(self._convert(command))

    async def _convert(self, command: link_pb.ConvertModel) -> None:
        loop = asyncio.get_running_loop()
        progress = {"done": 0, "total": 0}

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(done=done, total=total)

        def send(state: str, error: str = "", path: str = "") -> None:
            self.report(link_pb.JobProgress(job_id=command.job_id, state=state, bytes_done=progress["done"],
                                            bytes_total=progress["total"], error=error, copy_path=path))

        async def ticker():
            while True:
                await asyncio.sleep(0.5)
                send("running")

        tick = asyncio.create_task(ticker())
        try:
            out = await loop.run_in_executor(None, self._convert_now, command, on_progress)
            send("done", path=str(out))
        except MeshError as exc:
            send("failed", error=str(exc))
        except Exception as exc:  # a converter bug must end the job visibly
            log.exception("conversion %s failed", command.job_id)
            send("failed", error=f"conversion failed: {exc}")
        finally:
            tick.cancel()

    def _convert_now(self, command: link_pb.ConvertModel, on_progress) -> Path:
        from llmesh.agent.convert import model as convert  # numpy-heavy: loaded when a conversion runs

        source = self.runtime.holdings.check_under_roots(Path(command.source_path))
        self.converted_dir.mkdir(parents=True, exist_ok=True)
        out = self.converted_dir / f"{command.out_name.replace('/', '--')}.gguf"
        if out.exists():
            return out  # the same request again: the file is already there
        if command.kind == "lora":
            convert.convert_lora_to_gguf(source, out, progress=on_progress)
        elif command.kind == "model":
            convert.convert_model(source, out, quant=command.quant or "F16", progress=on_progress)
        else:
            raise InvalidArgument(f"cannot convert a {command.kind!r} to GGUF")
        return out

    # -- serving --------------------------------------------------------------------------

    def start(self, command: link_pb.StartServing) -> dict:
        """Runs on a worker thread: starting a server waits until it answers."""
        gguf = self.runtime.holdings.check_under_roots(Path(command.gguf_path))
        if command.backend == "llamacpp":
            from llmesh.agent.serving.llamacpp import LlamaServer

            server = LlamaServer(self.runtime.config.home / "serving")
            port = command.port or _free_port()
            endpoint = server.start(gguf, port=port, served_name=command.served_name,
                                    lora_path=command.adapter_path or None,
                                    binary=self.runtime.config.llama_server_binary or None)
            self.servers[command.deployment_id] = server
            return {"endpoint": endpoint.url, "port": port, "pid": endpoint.pid}
        if command.backend == "ollama":
            from llmesh.agent.serving.ollama import OllamaClient, deploy_to_ollama

            client = OllamaClient(self.runtime.config.ollama_url)
            result = deploy_to_ollama(client, gguf, command.digest or None, command.served_name,
                                      template=command.chat_template or None,
                                      adapter=command.adapter_path or None)
            return {"endpoint": self.runtime.config.ollama_url, "port": 0, "uploaded": result["uploaded"],
                    "skipped": result["skipped"], "modelfile": str(result["modelfile"])}
        raise InvalidArgument(f"unknown backend {command.backend!r}: llamacpp or ollama")

    def stop(self, command: link_pb.StopServing) -> dict:
        if command.backend == "ollama":
            from llmesh.agent.serving.ollama import OllamaClient

            OllamaClient(self.runtime.config.ollama_url).delete(command.served_name)
            return {}
        server = self.servers.pop(command.deployment_id, None)
        if server is None:
            raise FailedPrecondition("that deployment is not running on this host")
        server.stop()
        return {}

    def restarts(self, deployment_id: str) -> int:
        server = self.servers.get(deployment_id)
        return server.restarts if server is not None else 0

    def chat(self, command: link_pb.ChatTest) -> dict:
        from llmesh.agent.serving.llamacpp import chat_test

        extra = {"temperature": 0.0}  # a test should answer the same way every time
        server = self.servers.get(command.deployment_id)
        if command.ignore_eos and server is not None:
            eos = _eos_token_id(server.spec.gguf_path)
            if eos is not None:
                extra["logit_bias"] = {str(eos): -100.0}
        return chat_test(command.endpoint.rstrip("/"), command.prompt, command.max_tokens or 32,
                         model=command.served_name, **extra)

    async def shutdown(self) -> None:
        for task in self._jobs.values():
            task.cancel()
        servers, self.servers = list(self.servers.values()), {}
        for server in servers:
            await asyncio.to_thread(server.stop)


def _eos_token_id(gguf_path) -> int | None:
    from llmesh.agent.inventory.gguf_header import read_gguf_header  # skips the vocabulary arrays: fast on real models

    value = read_gguf_header(str(gguf_path)).fields.get("tokenizer.ggml.eos_token_id")
    return int(value) if value is not None else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

