"""The hub pull jobs the coordinator sends this agent: a model from an OCI/Ollama registry, fetched
by this agent (the bytes never pass through the coordinator or meshctl) into its store, laid out
as a model directory under the store's hub/ folder and, when asked, in the host's Ollama store;
progress is reported as the job runs, and the coordinator registers the directory when it is done."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Callable

from llmesh.agent.hubs import credentials
from llmesh.agent.hubs import fetch as hubfetch
from llmesh.agent.hubs.oci import Registry
from llmesh.agent.hubs.push import PushFile, files_of_manifest, push_files
from llmesh.agent.progress import run_reporting
from llmesh.agent.store.blobs import BlobStore
from llmesh.common.errors import FailedPrecondition, NotFound
from llmesh.common.refs import parse_hub_ref
from llmesh.v1 import agent_link_pb2 as link_pb

log = logging.getLogger("llmesh.agent.hubs")



def default_ollama_models_dir(env) -> Path:
    """Where Ollama keeps models on this host: OLLAMA_MODELS, else ~/.ollama/models."""
    return Path(env.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")


class HubJobs:
    def __init__(self, store: BlobStore, ollama_models: Path, report: Callable[[link_pb.JobProgress], None],
                 locate: Callable[[str], str | None], home: Path | None = None):
        self.store = store
        self.home = home  # where `meshctl hub login` left this agent's hub credentials
        self.locate = locate  # digest -> a local file with those bytes (the store or a root), or None
        self.ollama_models = ollama_models
        self.report = report
        self._jobs: dict[str, asyncio.Task] = {}
        self._cancelled: set[str] = set()

    def start(self, command: link_pb.HubPull) -> None:
        if command.job_id in self._jobs and not self._jobs[command.job_id].done():
            return
        self._cancelled.discard(command.job_id)
        self._jobs[command.job_id] = asyncio.create_task(self._pull(command))

    def cancel(self, job_id: str) -> None:
        """Stop a hub pull at its next piece (its verified pieces stay in tmp/ until gc)."""
        if job_id in self._jobs and not self._jobs[job_id].done():
            self._cancelled.add(job_id)

    def login(self, command: link_pb.HubLogin) -> dict:
        """`meshctl hub login … --host`: keep the credential as a login run on this host does."""
        path = credentials.save(self.home, command.hub, username=command.username, secret=command.secret)
        log.info("stored a hub credential for %s", command.hub)  # which hub, never the secret
        return {"path": str(path)}

    def push(self, command: link_pb.HubPush) -> dict:
        """Upload a held version to a registry (runs on a worker thread)."""
        ref = parse_hub_ref(command.ref, insecure=command.insecure)
        files = []
        for f in command.files:
            path = self.locate(f.digest)
            if path is None:
                raise NotFound(f"this host no longer holds {f.path} ({f.digest[:19]}…)")
            files.append(PushFile(f.path, Path(path), f.digest, f.size))
        if ref.kind == "hf":
            from llmesh.agent.hubs.hf import push_hf  # huggingface_hub only when a Hub push runs
            record = json.loads(command.record_json or "{}")
            message = f"llmesh: {record.get('name', '?')}:{record.get('version', '?')} ({record.get('digest', '')})"
            result = push_hf(ref, [(f.rel_path, f.path) for f in files], credentials.hf_token(self.home), message)
            log.info("pushed %d files to %s (commit %s)", len(files), ref, result["manifest_digest"])
            return result
        username, password = credentials.for_registry(self.home, ref.registry)
        result = push_files(Registry(ref, username=username, password=password), files, json.loads(command.record_json or "{}"))
        log.info("pushed %d files to %s (%s): %d blobs sent, %d already there", len(files), ref,
                 result.manifest_digest, result.blobs_sent, result.blobs_skipped)
        return {"manifest_digest": result.manifest_digest, "blobs_sent": result.blobs_sent,
                "blobs_skipped": result.blobs_skipped, "bytes_sent": result.bytes_sent}

    async def _pull(self, command: link_pb.HubPull) -> None:
        counts = {"done": 0, "received": 0, "total": 0}
        lock = threading.Lock()

        def on_progress(done: int, received: int) -> None:
            if command.job_id in self._cancelled:
                raise FailedPrecondition(f"job {command.job_id} was cancelled")
            with lock:
                counts["done"] += done
                counts["received"] += received

        def send(state: str, error: str = "", path: str = "", source_digest: str = "", record: str = "",
                 lineage: dict | None = None) -> None:
            with lock:
                progress = dict(counts)
            self.report(link_pb.JobProgress(
                job_id=command.job_id, state=state, bytes_total=progress["total"], bytes_done=progress["done"],
                bytes_received=progress["received"], error=error, copy_path=path, source_digest=source_digest,
                source_record_json=record, base_model=(lineage or {}).get("base_model", ""),
                base_relation=(lineage or {}).get("relation", "")))

        def work() -> dict:
            out, digest, found = self._pull_now(command, on_progress, counts)
            if isinstance(found, dict):  # a Hub pull: the base model its card names
                return {"path": str(out), "source_digest": digest, "lineage": found}
            return {"path": str(out), "source_digest": digest, "record": found}

        await run_reporting(work, send, f"hub pull {command.job_id}")

    def _pull_now(self, command: link_pb.HubPull, on_progress, counts: dict) -> tuple[Path, str, str | dict]:
        ref = parse_hub_ref(command.ref, insecure=command.insecure, include=list(command.include))
        if ref.kind == "hf":
            from llmesh.agent.hubs.hf import pull_hf  # huggingface_hub only when a Hub pull runs
            started = time.monotonic()
            pulled = pull_hf(ref, self.store, on_progress, token=credentials.hf_token(self.home),
                             piece_size=command.piece_size or hubfetch.HUB_PIECE_SIZE,
                             on_total=lambda n: counts.__setitem__("total", n))
            log.info("pulled %s (commit %s) in %.1fs", ref, pulled.commit, time.monotonic() - started)
            lineage = {"base_model": pulled.base_model, "relation": pulled.relation} if pulled.base_model else {}
            return pulled.path, f"hf.co/{ref.repository}@{pulled.commit}", lineage
        username, password = credentials.for_registry(self.home, ref.registry)
        registry = Registry(ref, username=username, password=password)
        manifest = registry.manifest()
        counts["total"] = sum(b["size"] for b in manifest.blobs)
        started = time.monotonic()
        blobs = hubfetch.pull_manifest_blobs(self.store, registry, manifest,
                                             piece_size=command.piece_size or hubfetch.HUB_PIECE_SIZE,
                                             progress=on_progress)
        out = self._model_dir(ref, manifest, blobs)
        if command.ollama_layout:
            hubfetch.place_in_ollama_store(self.ollama_models, ref.ollama_manifest_parts, manifest, blobs)
        log.info("pulled %s (%s) in %.1fs", ref, manifest.digest, time.monotonic() - started)
        return out, manifest.digest, _record_of(blobs.get(manifest.config.get("digest", "")))

    def _model_dir(self, ref, manifest, blobs: dict[str, Path]) -> Path:
        """A model directory of hard links to the verified blobs: hub/REGISTRY/NS/MODEL/TAG."""
        parts = [re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in ref.ollama_manifest_parts]
        out = self.store.models_dir.joinpath("hub", *parts)
        out.mkdir(parents=True, exist_ok=True)
        for rel, digest, _ in files_of_manifest(manifest):
            if rel in ("params", "template", "system", "license", "messages", "blob"):
                continue  # Ollama's small text layers belong to its own layout, not the model files
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.unlink()
            try:
                os.link(blobs[digest], target)
            except OSError:
                hubfetch.copy_blob(blobs[digest], target)
        return out


def _record_of(config_blob: Path | None) -> str:
    """The registry record an llmesh push put in the config blob (JSON text), or ''."""
    if config_blob is None or config_blob.stat().st_size > 1024 * 1024:
        return ""
    try:
        record = json.loads(config_blob.read_bytes()).get("llmesh")
    except (ValueError, AttributeError):
        return ""
    return json.dumps(record) if isinstance(record, dict) else ""
