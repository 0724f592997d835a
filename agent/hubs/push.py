"""Pushing a version's files to an OCI/Ollama registry: blobs first (those the registry has are
not sent), then the manifest. A GGUF file becomes Ollama's model layer, so an Ollama-compatible
registry serves it as an Ollama model; other files are layers titled with their relative path
(the OCI title annotation), and the config blob carries the registry record (name, version,
digest, metadata), so a pull of it can restore them."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from llmesh.agent.hubs.oci import DOCKER_CONFIG, DOCKER_MANIFEST, OLLAMA_MODEL, Registry
from llmesh.common.errors import FailedPrecondition
from llmesh.common.hashing import format_digest

LLMESH_FILE = "application/vnd.llmesh.file"
TITLE = "org.opencontainers.image.title"


@dataclass(frozen=True)
class PushFile:
    rel_path: str
    path: Path
    digest: str
    size: int


@dataclass
class PushResult:
    manifest_digest: str
    blobs_sent: int
    blobs_skipped: int
    bytes_sent: int


def build_manifest(files: list[PushFile], record: dict) -> tuple[bytes, bytes]:
    """(config bytes, manifest bytes) for ``files``."""
    ggufs = [f for f in files if f.rel_path.lower().endswith(".gguf")]
    config = {"model_format": "gguf" if ggufs else "files", "llmesh": record,
              "rootfs": {"type": "layers", "diff_ids": [f.digest for f in files]}}
    config_raw = json.dumps(config, sort_keys=True).encode()
    layers = []
    for f in files:
        media = OLLAMA_MODEL if f in ggufs and len(ggufs) == 1 else LLMESH_FILE
        layers.append({"mediaType": media, "digest": f.digest, "size": f.size,
                       "annotations": {TITLE: f.rel_path}})
    manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "digest": format_digest(hashlib.sha256(config_raw).hexdigest()),
                           "size": len(config_raw)},
                "layers": layers}
    return config_raw, json.dumps(manifest, indent=2).encode()


def push_files(registry: Registry, files: list[PushFile], record: dict) -> PushResult:
    config_raw, manifest_raw = build_manifest(files, record)
    config_digest = json.loads(manifest_raw)["config"]["digest"]
    sent = skipped = nbytes = 0
    for digest, body, size in [(config_digest, config_raw, len(config_raw)),
                               *[(f.digest, f.path, f.size) for f in {f.digest: f for f in files}.values()]]:
        if registry.push_blob(digest, body):
            sent, nbytes = sent + 1, nbytes + size
        else:
            skipped += 1
    digest = registry.push_manifest(manifest_raw, DOCKER_MANIFEST)
    return PushResult(digest, sent, skipped, nbytes)


def files_of_manifest(manifest) -> list[tuple[str, str, int]]:
    """(relative path, digest, size) of each layer a pull places as a file: titled layers by
    their title, a lone Ollama model layer as model.gguf, other Ollama layers by their kind."""
    out, used = [], set()
    for layer in manifest.layers:
        title = (layer.get("annotations") or {}).get(TITLE, "")
        media = layer.get("mediaType", "")
        if not title:
            kind = media.rsplit(".", 1)[-1] if media.startswith("application/vnd.ollama.image.") else "blob"
            title = "model.gguf" if kind == "model" else kind
        if title.startswith(("/", "\\")) or "\\" in title or ".." in title.split("/") or ":" in title:
            raise FailedPrecondition(f"the registry's manifest names a file {title[:80]!r} outside the model")
        name, n = title, 1
        while name in used:
            n += 1
            name = f"{title}.{n}"
        used.add(name)
        out.append((name, layer["digest"], layer["size"]))
    return out
