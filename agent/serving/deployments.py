"""The serving commands the coordinator sends this agent: start and stop deployments (supervised
llama.cpp servers, or models in the local Ollama), and prompt tests against what is served.
llama.cpp deployments with adapters share one server per base and port (shared.py): another
adapter joins it, a swap changes the adapter in place, the last to stop ends the process."""
from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Callable

from llmesh.common.errors import FailedPrecondition, InvalidArgument
from llmesh.v1 import agent_link_pb2 as link_pb

DRAIN_S = 30.0  # how long a replaced server's open requests may take to finish


class Deployments:
    def __init__(self, check_under_roots: Callable[[Path], Path], log_dir: Path, *, ollama_url: str,
                 llama_server_binary: str = ""):
        self.check_under_roots = check_under_roots  # a model path -> its real path, or InvalidArgument
        self.log_dir = log_dir                      # the llama.cpp servers' logs
        self.ollama_url = ollama_url
        self.llama_server_binary = llama_server_binary  # "": llama-cpp-python's server
        self.servers: dict[str, object] = {}  # deployment id -> LlamaServer
        self.forwarders: dict[str, object] = {}  # deployment id -> the Forwarder in front of its server
        self.shared: list = []  # SharedServers: one base, several adapters, one process each
        self._shared_lock = threading.Lock()  # two deployments of one base must not start two processes

    def start(self, command: link_pb.StartServing) -> dict:
        """Runs on a worker thread: starting a server waits until it answers."""
        gguf = self.check_under_roots(Path(command.gguf_path))
        if command.backend == "llamacpp":
            from llmesh.agent.serving.llamacpp import LlamaServer

            if command.in_place:
                return self._swap_in_place(command, gguf)
            # llama-cpp-python's server (or llama-server) loads one adapter at start for good;
            # adapters are served by a process of ours that takes more at run time.
            if not (command.stable_endpoint or self.llama_server_binary) and (
                    command.adapter_path or self._shared_for(gguf, command.port)):
                return self._start_shared(command, gguf)
            server = LlamaServer(self.log_dir)
            port = command.port or _free_port()
            if command.stable_endpoint:
                return self._start_behind_forwarder(command, server, gguf, port)
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

    def _shared_for(self, gguf: Path, port: int):
        self.shared = [s for s in self.shared if s.running]
        return next((s for s in self.shared if s.serves(gguf, port)), None)

    def _start_shared(self, command: link_pb.StartServing, gguf: Path) -> dict:
        """Join the running server of this base (same port, same process), or start one."""
        from llmesh.agent.serving.shared import SharedServer

        with self._shared_lock:
            shared = self._shared_for(gguf, command.port)
            if shared is not None:
                member, how = shared.join(command.served_name, command.adapter_path or None), "joined"
            else:
                shared = SharedServer(self.log_dir)
                member = shared.start(gguf, port=command.port or _free_port(), served_name=command.served_name,
                                      adapter_path=command.adapter_path or None)
                self.shared.append(shared)
                how = "started"
        self.servers[command.deployment_id] = member
        return {"endpoint": member.spec.url, "port": member.spec.port, "pid": member.pid, "how": how}

    def _swap_in_place(self, command: link_pb.StartServing, gguf: Path) -> dict:
        """Serve the deployment REPLACES's name with another adapter on the running process; when
        it does not run on a server that can (another base, port or kind of server), change
        nothing and say so: the coordinator then restarts it cleanly."""
        from llmesh.agent.serving.shared import Member

        old = self.servers.get(command.replaces)
        if not (isinstance(old, Member) and old.shared.serves(gguf, command.port)
                and old.served_name == command.served_name):
            return {"in_place": False}
        member = old.shared.swap(old, command.adapter_path or None)
        del self.servers[command.replaces]
        self.servers[command.deployment_id] = member
        return {"endpoint": member.spec.url, "port": member.spec.port, "pid": member.pid, "how": "in place",
                "in_place": True}

    def _start_behind_forwarder(self, command: link_pb.StartServing, server, gguf: Path, port: int) -> dict:
        """The server on a port of its own behind a forwarder on PORT. Replacing a deployment: the
        new server starts beside the old one, and once it answers the forwarder sends new
        connections to it, the old one's finish, and the old one stops."""
        from llmesh.agent.serving.forward import Forwarder

        forwarder = self.forwarders.get(command.replaces) if command.replaces else None
        if command.replaces and forwarder is None:
            raise FailedPrecondition("the deployment to replace is not running on this host")
        endpoint = server.start(gguf, port=_free_port(), served_name=command.served_name,
                                lora_path=command.adapter_path or None, binary=self.llama_server_binary or None)
        new_port = server.spec.port
        if forwarder is None:
            try:
                forwarder = Forwarder(server.spec.host, port, new_port)
            except Exception:
                server.stop()
                raise
        else:
            old = self.servers.pop(command.replaces)
            forwarder.retarget(new_port)
            forwarder.drain(old.spec.port, DRAIN_S)
            old.stop()
            del self.forwarders[command.replaces]
        self.forwarders[command.deployment_id] = forwarder
        self.servers[command.deployment_id] = server
        host = f"[{forwarder.host}]" if ":" in forwarder.host else forwarder.host
        return {"endpoint": f"http://{host}:{port}", "port": port, "pid": endpoint.pid}

    def stop(self, command: link_pb.StopServing) -> dict:
        if command.backend == "ollama":
            from llmesh.agent.serving.ollama import OllamaClient

            OllamaClient(self.ollama_url).delete(command.served_name)
            return {}
        server = self.servers.pop(command.deployment_id, None)
        if server is None:
            raise FailedPrecondition("that deployment is not running on this host")
        forwarder = self.forwarders.pop(command.deployment_id, None)
        if forwarder is not None:
            forwarder.close()
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
        for forwarder in self.forwarders.values():
            forwarder.close()
        self.forwarders = {}
        shared, self.shared = self.shared, []
        servers, self.servers = [s for s in self.servers.values() if not hasattr(s, "shared")], {}
        for server in servers + shared:  # a shared process at once, not one adapter at a time
            await asyncio.to_thread(server.stop)


def _eos_token_id(gguf_path) -> int | None:
    from llmesh.agent.inventory.gguf_header import read_gguf_header  # skips the vocabulary arrays: fast on real models

    value = read_gguf_header(str(gguf_path)).fields.get("tokenizer.ggml.eos_token_id")
    return int(value) if value is not None else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
