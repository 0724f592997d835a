"""The serving commands the coordinator sends this agent: start and stop deployments (supervised
llama.cpp servers, or models in the local Ollama), and prompt tests against what is served."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Callable

from llmesh.common.errors import FailedPrecondition, InvalidArgument
from llmesh.v1 import agent_link_pb2 as link_pb


class Deployments:
    def __init__(self, check_under_roots: Callable[[Path], Path], log_dir: Path, *, ollama_url: str,
                 llama_server_binary: str = ""):
        self.check_under_roots = check_under_roots  # a model path -> its real path, or InvalidArgument
        self.log_dir = log_dir                      # the llama.cpp servers' logs
        self.ollama_url = ollama_url
        self.llama_server_binary = llama_server_binary  # "": llama-cpp-python's server
        self.servers: dict[str, object] = {}  # deployment id -> LlamaServer

    def start(self, command: link_pb.StartServing) -> dict:
        """Runs on a worker thread: starting a server waits until it answers."""
        gguf = self.check_under_roots(Path(command.gguf_path))
        if command.backend == "llamacpp":
            from llmesh.agent.serving.llamacpp import LlamaServer

            server = LlamaServer(self.log_dir)
            port = command.port or _free_port()
            endpoint = server.start(gguf, port=port, served_name=command.served_name,
                                    lora_path=command.adapter_path or None,
                                    binary=self.llama_server_binary or None)
            self.servers[command.deployment_id] = server
            return {"endpoint": endpoint.url, "port": port, "pid": endpoint.pid}
        if command.backend == "ollama":
            from llmesh.agent.serving.ollama import OllamaClient, deploy_to_ollama

            client = OllamaClient(self.ollama_url)
            result = deploy_to_ollama(client, gguf, command.digest or None, command.served_name,
                                      template=command.chat_template or None,
                                      adapter=command.adapter_path or None)
            return {"endpoint": self.ollama_url, "port": 0, "uploaded": result["uploaded"],
                    "skipped": result["skipped"], "modelfile": str(result["modelfile"])}
        raise InvalidArgument(f"unknown backend {command.backend!r}: llamacpp or ollama")

    def stop(self, command: link_pb.StopServing) -> dict:
        if command.backend == "ollama":
            from llmesh.agent.serving.ollama import OllamaClient

            OllamaClient(self.ollama_url).delete(command.served_name)
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
