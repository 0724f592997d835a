"""Convert and deploy where the model is.

Conversions run on an agent that holds the version (pulling it there first when asked
for another host); the GGUF comes back as a new version with a `quantized`/`convert`
lineage edge, and the same request again reuses it. Deployments convert and pull first
when needed, then ask the host's agent to serve: a supervised llama.cpp server, or its
Ollama daemon. A halext node's agent can ask for a model itself (RequestModel).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from llmesh.common import wire
from llmesh.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from llmesh.common.names import check_quant, parse_ref, sanitize_name
from llmesh.common.refs import parse_hub_ref
from llmesh.coordinator.auth import caller
from llmesh.coordinator.core import INSPECT_TIMEOUT_S, Core
from llmesh.coordinator.mesh.service import MeshService
from llmesh.coordinator.registry.deployments import with_liveness
from llmesh.coordinator.serving.follow import AliasFollower
from llmesh.coordinator.transfer.service import TransferService
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.coordinator.serving")

LOSSLESS = ("F32", "F16", "BF16")
BACKENDS = ("llamacpp", "ollama", "halext")
DEFAULT_DEPLOY_QUANT = "Q4_K_M"
JOB_WAIT_S = 3600.0
SERVE_TIMEOUT_S = 300.0
# What the converter reads of a base fetched from the Hub: config, tokenizer, safetensors weights
# (not a repo's GGUF, ONNX or original checkpoints, which can double the download).
BASE_FILES = ("*.json", "*.model", "*.safetensors", "*.tiktoken", "*.txt")


class ServingService:
    def __init__(self, core: Core, mesh: MeshService, transfers: TransferService):
        self.core = core
        self.registry = core.registry
        self.mesh = mesh  # the hosts, with their online status
        self.transfers = transfers  # conversions are jobs; deployments pull first when needed
        self.follower = AliasFollower(self)  # deployments bound to an alias follow it

    # -- conversion -----------------------------------------------------------------------

    async def convert(self, ref_text: str, fmt: str = "gguf", quant: str = "", on: str = "") -> dict:
        if (fmt or "gguf").lower() != "gguf":
            raise InvalidArgument(f"unknown format {fmt!r}: llmesh converts to gguf")
        quant = check_quant(quant or "F16")
        version_id = await self.core.run(self.registry.versions.resolve, parse_ref(ref_text))
        version = await self.core.run(self.registry.versions.version_by_id, version_id, self.core.hub.connected_ids())
        if version["format"] == "gguf":
            raise FailedPrecondition(f"{ref_text} is already GGUF")
        existing = await self.core.run(self.registry.deployments.converted_from, version_id, quant)
        base_id = None
        if version["kind"] == "lora" and existing is None:  # a base no host holds comes from the Hub, to there
            base_id = await self._base_of(version_id, version, fetch_on=on)
        host = await self._holder(version_id, on, ref_text)
        base_path = ""
        if base_id is not None:  # the adapter's tensors are laid out by its base's config
            base_ref = await self.core.run(self.registry.db.version_ref, base_id)
            base_path = (await self._copy_on(base_id, base_ref, host))["path"]
        out_name = f"{version['name']}-{quant.lower()}"
        job_id = await self.core.run(self.registry.jobs.create_job_of_kind, "convert", version_id, host["id"],
                                     {"quant": quant, "out_name": out_name}, caller().name)
        if existing is not None:  # the same request again: reuse what it made
            result = await self.core.run(self.registry.db.version_ref, existing)
            await self.core.run(self.registry.jobs.update_job, job_id, state="done", error="", copy_path=result,
                                finished_at=time.time())
            return await self.transfers.job(job_id)
        copies = [c for c in await self.core.run(self.registry.jobs.copies_on, version_id, host["id"])
                  if c["state"] == "verified"]
        command = link_pb.ConvertModel(job_id=job_id, source_path=copies[0]["path"], kind=version["kind"],
                                       quant=quant, base_path=base_path,
                                       # the file is per source version: another version's conversion is not this one
                                       out_name=sanitize_name(out_name).replace("/", "--") + f"-v{version['version']}")
        await self.core.hub.get(host["id"], host["name"]).request(link_pb.Command(convert=command), 30)
        await self.core.run(self.registry.jobs.update_job, job_id, state="running", started_at=time.time())
        return await self.transfers.job(job_id)

    async def on_convert_progress(self, connection, job: dict, progress: link_pb.JobProgress) -> None:
        fields = {"state": progress.state, "bytes_done": progress.bytes_done, "bytes_total": progress.bytes_total,
                  "error": progress.error}
        if progress.state == "done":
            detail = await self.core.run(self.registry.jobs.job_detail, job["id"])
            result = await self._register_conversion(connection, job, detail, progress.copy_path)
            fields.update(copy_path=result, finished_at=time.time())
        elif progress.state in ("failed", "cancelled"):
            fields["finished_at"] = time.time()
        await self.core.run(self.registry.jobs.update_job, job["id"], **fields)

    async def _register_conversion(self, connection, job: dict, detail: dict, path: str) -> str:
        reply = await connection.request(link_pb.Command(inspect=link_pb.InspectPath(path=path)), INSPECT_TIMEOUT_S)
        found = wire.to_dict(reply.model)
        quant = detail["quant"]
        spec = {"name": detail["out_name"], "parents": [job["ref"]],
                "relation": "convert" if quant in LOSSLESS else "quantized",
                "params": {"quantization": quant}, "backends": ["llamacpp", "ollama"]}
        version_id, _, _ = await self.core.run(self.registry.catalog.register_run, connection.host_id, found, spec,
                                               job["created_by"])
        return await self.core.run(self.registry.db.version_ref, version_id)

    async def _wait_job(self, job: dict, what: str) -> dict:
        deadline = time.monotonic() + JOB_WAIT_S
        while job["state"] not in ("done", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise DeadlineExceeded(f"{what} (job {job['id']}) did not finish in time")
            await asyncio.sleep(0.2)
            job = await self.transfers.job(job["id"])
        if job["state"] != "done":
            raise FailedPrecondition(f"{what} failed (job {job['id']}): {job['error']}")
        return job

    async def _target_name(self, version_id: int, on: str, ref_text: str) -> str:
        """The host _holder will work on, named without pulling anything there yet."""
        if on and on != "auto":
            return on
        connected = self.core.hub.connected_ids()
        holders = [s for s in await self.core.run(self.registry.jobs.transfer_sources, version_id)
                   if s["host_id"] in connected]
        if not holders:
            raise FailedPrecondition(f"no online host holds a verified copy of {ref_text}")
        return holders[0]["host"]

    async def _holder(self, version_id: int, on: str, ref_text: str) -> dict:
        """The host to work on: --on (pulling the version there first), else an online holder."""
        connected = self.core.hub.connected_ids()
        holders = [s for s in await self.core.run(self.registry.jobs.transfer_sources, version_id)
                   if s["host_id"] in connected]
        if on and on != "auto":
            host = await self.core.run(self.registry.hosts.host_by_name, on)
            if host["id"] not in connected:
                raise FailedPrecondition(f"host {on!r} is offline")
            if not any(h["host_id"] == host["id"] for h in holders):
                job = await self.transfers.pull(ref_text, on)
                await self._wait_job(job, f"pulling {ref_text} to {on}")
            return host
        if not holders:
            raise FailedPrecondition(f"no online host holds a verified copy of {ref_text}")
        return await self.core.run(self.registry.hosts.host_by_name, holders[0]["host"])

    # -- deployment -----------------------------------------------------------------------

    async def deploy(self, ref_text: str, backend: str, on: str, served_name: str = "", port: int = 0,
                     adapter: str = "", quant: str = "") -> dict:
        if backend not in BACKENDS:
            raise InvalidArgument(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)}")
        if not on:
            raise InvalidArgument("say where to serve: --on HOST (or --on auto)")
        ref = parse_ref(ref_text)
        version_id = await self.core.run(self.registry.versions.resolve, ref)
        version_id, adapter, served_name = await self._on_its_base(version_id, ref_text, adapter, served_name, on)
        gguf_ref, gguf_id = await self._gguf_of(version_id, ref_text, quant, on)
        if on == "auto":
            on = await self._place(gguf_id, backend)
        host = await self.core.run(self.registry.hosts.host_by_name, on)
        if backend == "halext" and "halext" not in (await self._host_labels(host["id"])):
            raise FailedPrecondition(f"host {on!r} is not a halext node (start its agent with --label halext)")
        path = await self._gguf_path_on(gguf_id, gguf_ref, host)
        adapter_id, adapter_path = None, ""
        if adapter:
            adapter_id = await self.core.run(self.registry.versions.resolve, parse_ref(adapter))
            adapter_ref, adapter_id = await self._gguf_of(adapter_id, adapter, "F16", on)
            adapter_path = await self._gguf_path_on(adapter_id, adapter_ref, host)
        requested = await self.core.run(self.registry.versions.version_by_id, version_id, self.core.hub.connected_ids())
        served = served_name or requested["name"].replace("/", "-")
        # One version per served name per host: the new one replaces it, on its port.
        replaced = await self.core.run(self.registry.deployments.running_deployments, None, host["id"], served)
        kept_ports = {d["port"] for d in replaced if d["port"]}
        if not port and kept_ports and backend != "ollama":
            port = sorted(kept_ports)[0]
        serve_backend = "llamacpp" if backend == "halext" else backend
        if port and port not in kept_ports and port in await self.core.run(
                self.registry.deployments.ports_in_use, host["id"]) and port not in await self._joinable(
                host["id"], backend, gguf_id):
            raise FailedPrecondition(f"port {port} on {on} is already used by another deployment")
        # Following an alias on llama.cpp: a forwarder holds the port; the new server starts beside
        # the old one and takes over once it answers (no failed request); else stop, then start.
        stable = bool(ref.alias) and serve_backend == "llamacpp"
        handover = next((d for d in replaced if stable and d["alias"] and d["backend"] == backend
                         and d["port"] == port), None) if len(replaced) == 1 else None
        version = await self.core.run(self.registry.versions.version_by_id, gguf_id, self.core.hub.connected_ids())
        files = await self.core.run(self.registry.jobs.version_files, gguf_id)
        deployment_id = uuid.uuid4().hex[:12]
        start = link_pb.StartServing(
            deployment_id=deployment_id, backend=serve_backend, gguf_path=path, served_name=served, port=port,
            adapter_path=adapter_path, digest=next((f["digest"] for f in files if f["path"].endswith(".gguf")), ""),
            chat_template=(version["metadata"].get("gguf") or {}).get("chat_template", "") or "",
            stable_endpoint=stable, replaces=handover["id"] if handover else "")
        # Another adapter under a running name: changed on its running server where that server can.
        result = None if stable else await self._swap_in_place(host, start, replaced, backend, gguf_id)
        if result is None:
            for old in replaced:
                if old is not handover:
                    await self._stop_process(old)
            try:
                result = await self._ask(host, link_pb.Command(start_serving=start), SERVE_TIMEOUT_S)
            except Exception:
                for old in replaced:  # what served before serves again
                    if old is not handover:
                        await self._restart(old)
                raise
            if replaced and not handover:
                result["how"] = "restarted"
        for old in replaced:
            await self.core.run(self.registry.deployments.stop_deployment, old["id"], caller().name)
        await self.core.run(self.registry.deployments.add_deployment, deployment_id, gguf_id, host["id"], backend, served,
                            result["endpoint"], result.get("port", 0), adapter_id, caller().name, version_id,
                            ref.alias or "", quant)
        deployment = await self.core.run(self.registry.deployments.deployment, deployment_id)
        return {**deployment, "how": result.get("how") or ("restarted" if replaced else "started"),
                "pid": result.get("pid") or 0}

    async def _joinable(self, host_id: str, backend: str, gguf_id: int) -> set[int]:
        """Ports of the host's llama.cpp adapter servers of this model (those serving an adapter):
        another deployment of the model may join them."""
        if backend == "ollama":
            return set()
        return {d["port"] for d in await self.core.run(self.registry.deployments.running_deployments, gguf_id, host_id)
                if d["backend"] == backend and d["adapter"]}

    async def _swap_in_place(self, host: dict, start: link_pb.StartServing, replaced: list[dict], backend: str,
                             gguf_id: int) -> dict | None:
        """The agent's answer when it served START's name with the new adapter on the running
        server (same process, no restart); None when that server cannot and nothing changed."""
        if start.backend != "llamacpp" or len(replaced) != 1:
            return None
        old = replaced[0]
        if (old["backend"], old["version_id"], old["port"]) != (backend, gguf_id, start.port):
            return None
        command = link_pb.StartServing()
        command.CopyFrom(start)
        command.replaces, command.in_place = old["id"], True
        result = await self._ask(host, link_pb.Command(start_serving=command), SERVE_TIMEOUT_S)
        return result if result.get("in_place") else None

    async def _base_of(self, adapter_id: int, adapter: dict, fetch_on: str | None = None) -> int:
        """The registry version a LoRA adapter was trained on. With FETCH_ON (--on, or '' for a
        holder of the adapter), a base known nowhere on the mesh whose id is a Hugging Face repo
        id is pulled from the Hub to that host (the hub pull registers it); else
        FailedPrecondition naming the base."""
        base_text = adapter.get("base_model") or ""
        base_id = await self.core.run(self.registry.deployments.base_of, adapter_id, base_text)
        hub_ref = hf_repo_of(base_text) if base_id is None and fetch_on is not None else ""
        if hub_ref:
            to = await self._target_name(adapter_id, fetch_on, f"{adapter['name']}:{adapter['version']}")
            await self._fetch_base(hub_ref, base_text, adapter, to)
            base_id = await self.core.run(self.registry.deployments.base_of, adapter_id, base_text)
            if base_id is None:
                raise FailedPrecondition(f"the base {base_text!r} of {adapter['name']}:{adapter['version']} came "
                                         f"from the Hub ({hub_ref}) but is not a model with its config.json")
        if base_id is None:
            raise FailedPrecondition(
                f"the base {base_text or '(not recorded)'!r} of {adapter['name']}:{adapter['version']} is not in the "
                "registry nor in any host's HF cache: pull or register it first")
        return base_id

    async def _fetch_base(self, hub_ref: str, base_text: str, adapter: dict, to: str) -> None:
        """Pull the base from the Hub to TO through the hub-pull job (or wait for one already
        pulling it); one line naming the base and the Hub's answer when it cannot be had."""
        source = hub_ref + "".join(f" --include {g}" for g in sorted(BASE_FILES))
        running = await self.core.run(self.registry.jobs.hub_jobs_in_flight, source)
        job = await self.transfers.job(running[0]) if running else await self.transfers.hubs.pull(
            hub_ref, to, include=BASE_FILES)
        log.info("fetching base %s of %s:%s from the Hub to %s (job %s)", base_text, adapter["name"],
                 adapter["version"], to, job["id"])
        try:
            await self._wait_job(job, f"pulling the base {base_text} from the Hub")
        except FailedPrecondition:
            job = await self.transfers.job(job["id"])
            answer = " ".join((job["error"] or job["state"]).split())
            raise FailedPrecondition(f"the base {base_text!r} of {adapter['name']}:{adapter['version']} is on no "
                                     f"host and the Hub could not give it: {answer}") from None

    async def _on_its_base(self, version_id: int, ref_text: str, adapter: str,
                           served_name: str, on: str = "") -> tuple[int, str, str]:
        """(the model to serve, the adapter, the served name): an adapter deployed alone is served on
        its base; --adapter must have been trained on the model it is deployed with."""
        connected = self.core.hub.connected_ids()
        version = await self.core.run(self.registry.versions.version_by_id, version_id, connected)
        if version["kind"] == "lora":
            if adapter:
                raise InvalidArgument(f"{ref_text} is an adapter: deploy it alone (on its base) or as --adapter")
            base_id = await self._base_of(version_id, version, fetch_on=on)
            return base_id, f"{version['name']}:{version['version']}", served_name or version["name"].replace("/", "-")
        if not adapter:
            return version_id, adapter, served_name
        adapter_id = await self.core.run(self.registry.versions.resolve, parse_ref(adapter))
        found = await self.core.run(self.registry.versions.version_by_id, adapter_id, connected)
        if found["kind"] != "lora" and not (found["kind"] == "gguf" and found["metadata"].get("gguf", {}).get(
                "type") == "adapter"):
            raise InvalidArgument(f"{adapter} is not a LoRA adapter")
        if found["kind"] == "lora":
            base_id = await self._base_of(adapter_id, found)
            if not await self.core.run(self.registry.deployments.derived_from, version_id, base_id):
                base = await self.core.run(self.registry.db.version_ref, base_id)
                raise FailedPrecondition(f"adapter {adapter} was trained on {base} "
                                         f"({found.get('base_model') or 'its base'}), not on {ref_text}")
        return version_id, adapter, served_name

    async def _restart(self, deployment: dict) -> None:
        """Start a stopped deployment's server again, as it was (its id, port and files)."""
        host = {"id": deployment["host_id"], "name": deployment["host"]}
        try:
            path = await self._gguf_path_on(deployment["version_id"], deployment["ref"], host)
            adapter_path = ""
            if deployment["adapter"]:
                adapter_id = await self.core.run(self.registry.versions.resolve, parse_ref(deployment["adapter"]))
                adapter_path = await self._gguf_path_on(adapter_id, deployment["adapter"], host)
            start = link_pb.StartServing(
                deployment_id=deployment["id"], served_name=deployment["served_name"], port=deployment["port"],
                backend="llamacpp" if deployment["backend"] == "halext" else deployment["backend"],
                gguf_path=path, adapter_path=adapter_path)
            await self._ask(host, link_pb.Command(start_serving=start), SERVE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the registry says it stopped, with why
            log.warning("could not restart deployment %s: %s", deployment["id"], exc)
            await self.core.run(self.registry.deployments.stop_deployment, deployment["id"], caller().name,
                                "failed", f"not restarted after a failed replacement: {exc}")

    async def _gguf_of(self, version_id: int, ref_text: str, quant: str, on: str) -> tuple[str, int]:
        """The GGUF version to serve: the version itself, or its conversion (made now if needed)."""
        version = await self.core.run(self.registry.versions.version_by_id, version_id, self.core.hub.connected_ids())
        ref = f"{version['name']}:{version['version']}"
        if version["format"] == "gguf":
            return ref, version_id
        quant = check_quant(quant or DEFAULT_DEPLOY_QUANT)
        existing = await self.core.run(self.registry.deployments.converted_from, version_id, quant)
        if existing is None:
            job = await self.convert(ref, "gguf", quant, "" if on == "auto" else on)
            job = await self._wait_job(job, f"converting {ref} to {quant}")
            existing = await self.core.run(self.registry.versions.resolve, parse_ref(job["copy_path"]))
        return await self.core.run(self.registry.db.version_ref, existing), existing

    async def _copy_on(self, version_id: int, ref: str, host: dict) -> dict:
        """A verified copy of the version on the host, pulled there first when it has none."""
        copies = [c for c in await self.core.run(self.registry.jobs.copies_on, version_id, host["id"])
                  if c["state"] == "verified"]
        if not copies:
            job = await self.transfers.pull(ref, host["name"])
            job = await self._wait_job(job, f"pulling {ref} to {host['name']}")
            copies = [{"path": job["copy_path"]}]
        return copies[0]

    async def _gguf_path_on(self, version_id: int, ref: str, host: dict) -> str:
        path = (await self._copy_on(version_id, ref, host))["path"]
        if path.endswith(".gguf"):
            return path
        files = [f["path"] for f in await self.core.run(self.registry.jobs.version_files, version_id)
                 if f["path"].endswith(".gguf")]
        if not files:
            raise FailedPrecondition(f"{ref} has no .gguf file to serve")
        return path.rstrip("/\\") + ("\\" if "\\" in path else "/") + files[0]

    async def _place(self, gguf_id: int, backend: str) -> str:
        """--on auto: an online host with enough free memory, preferably one holding the files."""
        hosts = [h for h in await self.mesh.list_hosts() if h["status"] == "online"]
        if backend == "halext":
            hosts = [h for h in hosts if "halext" in h["labels"]]
        version = await self.core.run(self.registry.versions.version_by_id, gguf_id, self.core.hub.connected_ids())
        need = int(version["size_bytes"] * 1.2) + 256 * 2 ** 20
        fit = [h for h in hosts if (h["hardware"].get("memory_available_bytes") or 0) >= need]
        if not fit:
            raise FailedPrecondition(f"no online host has {need / 2 ** 30:.1f} GiB of memory free for {version['name']}")
        holders = {c["host"] for c in version["copies"] if c["state"] == "verified"}
        fit.sort(key=lambda h: (h["name"] not in holders, -(h["hardware"].get("memory_available_bytes") or 0)))
        return fit[0]["name"]

    async def _host_labels(self, host_id: str) -> dict:
        for h in await self.mesh.list_hosts():
            if h["id"] == host_id:
                return h["labels"]
        return {}

    async def find_running(self, text: str, on: str = "") -> list[dict]:
        """Running deployments named by TEXT: the name they are served as, or the version (a bare
        name: the model) they serve or were deployed from."""
        host_id = (await self.core.run(self.registry.hosts.host_by_name, on))["id"] if on else None
        by_id = [d for d in await self.core.run(self.registry.deployments.running_deployments, None, host_id)
                 if d["id"] == text]
        running = by_id or await self.core.run(self.registry.deployments.running_deployments, None, host_id,
                                               text.replace("/", "-"))
        if running:
            return running
        try:
            ref = parse_ref(text)
        except InvalidArgument:
            return []
        if ref.names_a_version:
            ids = [await self.core.run(self.registry.versions.resolve, ref)]
        else:
            ids = await self.core.run(self.registry.deployments.model_version_ids, ref.name)
        return await self.core.run(self.registry.deployments.running_deployments_of, ids, host_id) if ids else []

    async def undeploy(self, ref_text: str, on: str = "") -> dict:
        running = await self.find_running(ref_text, on)
        if not running:
            raise NotFound(f"{ref_text} is not deployed" + (f" on {on}" if on else ""))
        for deployment in running:
            await self._stop(deployment)
        return await self.core.run(self.registry.deployments.deployment, running[0]["id"])

    async def _stop_process(self, deployment: dict) -> None:
        host = {"id": deployment["host_id"], "name": deployment["host"]}
        command = link_pb.StopServing(deployment_id=deployment["id"], served_name=deployment["served_name"],
                                      backend="llamacpp" if deployment["backend"] == "halext" else deployment["backend"])
        try:
            await self._ask(host, link_pb.Command(stop_serving=command), 60)
        except FailedPrecondition as exc:  # gone already (agent restarted): the registry catches up
            log.info("deployment %s was not running: %s", deployment["id"], exc)

    async def _stop(self, deployment: dict) -> None:
        await self._stop_process(deployment)
        await self.core.run(self.registry.deployments.stop_deployment, deployment["id"], caller().name)

    async def swap(self, name: str, adapter: str, on: str = "") -> dict:
        """Serve a running deployment with another adapter, on its served name and port: on
        llama.cpp's adapter server the adapter changes in place (same process, no restart; "how":
        "in place"); Ollama (FROM + ADAPTER is a model) and an external llama-server, which loads
        adapters only at start, get a clean restart ("restarted"). The adapter is checked against
        the model first: a wrong one stops nothing."""
        if not adapter:
            raise InvalidArgument("name the adapter to swap in")
        running = await self.find_running(name, on)
        if not running:
            raise NotFound(f"{name} is not deployed" + (f" on {on}" if on else ""))
        if len({d["host"] for d in running}) > 1:
            raise FailedPrecondition(f"{name} is deployed on {', '.join(sorted({d['host'] for d in running}))}: "
                                     "say which with --on")
        d = running[-1]
        ref = f"{d['source'].rpartition(':')[0]}@{d['alias']}" if d["alias"] else (d["source"] or d["ref"])
        return await self.deploy(ref, d["backend"], d["host"], d["served_name"], d["port"], adapter, d["quant"])

    async def rollback(self, name: str, on: str) -> dict:
        """Serve again what served under this name on this host before the current one."""
        host = await self.core.run(self.registry.hosts.host_by_name, on)
        running = await self.find_running(name, on)
        name = running[-1]["served_name"] if running else name.replace("/", "-")
        before = running[-1]["created_at"] if running else time.time()
        previous = await self.core.run(self.registry.deployments.previous_deployment, name, host["id"], before)
        if previous is None:
            raise FailedPrecondition(f"nothing served as {name!r} on {on} before; no rollback possible")
        return await self.deploy(previous["source"] or previous["ref"], previous["backend"], on,
                                 previous["served_name"], previous["port"], previous["adapter"], previous["quant"])

    async def deployments(self, include_stopped: bool) -> list[dict]:
        rows = await self.core.run(self.registry.deployments.deployments, include_stopped)
        return with_liveness(rows, self.core.hub.connected_ids())

    async def test(self, ref_text: str, on: str = "", prompt: str = "", max_tokens: int = 32,
                   ignore_eos: bool = False) -> dict:
        running = await self.find_running(ref_text, on)
        if not running:
            raise NotFound(f"{ref_text} is not deployed" + (f" on {on}" if on else "") + ": deploy it first")
        deployment = running[-1]
        prompt = prompt or "Write one short sentence about llamas."
        result = await self._ask({"id": deployment["host_id"], "name": deployment["host"]}, link_pb.Command(
            chat_test=link_pb.ChatTest(endpoint=deployment["endpoint"], prompt=prompt, max_tokens=max_tokens or 32,
                                       backend=deployment["backend"], served_name=deployment["served_name"],
                                       ignore_eos=ignore_eos, deployment_id=deployment["id"])), 300)
        metrics = {"test_passed": 1.0 if result["passed"] else 0.0}
        if result.get("ttft_s") is not None:
            metrics["ttft_ms"] = round(result["ttft_s"] * 1000, 3)
        if result.get("tokens_per_s") is not None:
            metrics["tokens_per_second"] = result["tokens_per_s"]
        await self.core.run(self.registry.catalog.score, parse_ref(deployment["ref"]), metrics, (), caller().name)
        return {"ref": deployment["ref"], "host": deployment["host"], "endpoint": deployment["endpoint"],
                "prompt": prompt, "text": result.get("text") or "", "ttft_s": result.get("ttft_s") or 0.0,
                "tokens_per_s": result.get("tokens_per_s") or 0.0, "tokens": result.get("tokens") or 0,
                "passed": bool(result.get("passed"))}

    async def request_model(self, ref_text: str, role: str, backend: str, port: int) -> dict:
        """A halext node asks for a model for itself, by name, alias or role."""
        who = caller()
        if who.kind != "agent":
            raise PermissionDenied("only a node's own agent can ask for a model for itself")
        host_id = who.name.split(":", 1)[1]
        hosts = {h["id"]: h for h in await self.mesh.list_hosts()}
        if host_id not in hosts:
            raise NotFound("this agent's host is not known to the coordinator")
        if not ref_text:
            if not role:
                raise InvalidArgument("ask for a model by name, alias or role")
            version_id, _ = await self.core.run(self.registry.reports.resolve_role, role, [], "")
            ref_text = await self.core.run(self.registry.db.version_ref, version_id)
        return await self.deploy(ref_text, backend or "llamacpp", hosts[host_id]["name"], port=port)

    async def _ask(self, host: dict, command: link_pb.Command, timeout: float) -> dict:
        reply = await self.core.hub.get(host["id"], host["name"]).request(command, timeout)
        return json.loads(reply.json) if reply.WhichOneof("payload") == "json" else {}


def hf_repo_of(base_text: str) -> str:
    """hf.co/ORG/REPO when an adapter's base id is a Hugging Face repo id (not a local path), else ''."""
    if base_text.count("/") != 1 or ":" in base_text or "\\" in base_text or base_text.startswith((".", "~")):
        return ""
    try:
        return str(parse_hub_ref("hf.co/" + base_text))
    except InvalidArgument:
        return ""
