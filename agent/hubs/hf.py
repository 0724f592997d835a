"""Pulling a Hugging Face repo on this agent, into the store and this host's real HF cache.

huggingface_hub answers what the repo is: the commit the revision resolves to (recorded with the
version), its files with their sizes, git blob ids and, for LFS files, the sha256 the Hub
publishes, and the model card. The bytes come by HTTP Range from each file's resolve URL through
the store's resumable piece fetch (hf_fetch.HubFileSource + fetch.RegistryBlobFetch, as OCI
pulls do): a restarted agent fetches only the pieces it has not recorded, a bad piece is found
and fetched again alone, and a file is published only once it matches its sha256 (a small file:
its git blob id). The verified blobs are then laid out as huggingface_hub keeps them
(HF_HUB_CACHE/models--ORG--REPO/{blobs,snapshots,refs}; HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
HF_TOKEN honoured; HF_HUB_OFFLINE: what the cache already holds, verified), so transformers, vLLM
and llama.cpp on this host find them, and under the store's hub/ folder for the coordinator to
register, with the base model the card or adapter_config.json names. The token, if any, goes to
the Hub's host only and never leaves this agent.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from llmesh.agent.hubs import hf_fetch
from llmesh.agent.hubs.fetch import HUB_PIECE_SIZE, PullStats, RegistryBlobFetch, copy_blob
from llmesh.agent.store.blobs import BlobStore
from llmesh.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    MeshError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from llmesh.common.hashing import format_digest, hash_file
from llmesh.common.refs import HubRef

RELATIONS = ("adapter", "merge", "quantized", "finetune")  # the card's base_model_relation values


@dataclass
class HfPulled:
    path: Path            # the model directory (or its one GGUF) under the store's hub/ folder
    commit: str           # the commit the revision resolved to
    base_model: str = ""  # the repo id the card / adapter_config.json names as its base
    relation: str = ""    # the card's base_model_relation, when it gives one


def pull_hf(ref: HubRef, store: BlobStore, progress=None, token: str | None = None, *,
            piece_size: int = HUB_PIECE_SIZE, stats: PullStats | None = None, on_total=None) -> HfPulled:
    """Download ``ref`` into the store and the HF cache; what was pulled, at which commit."""
    # Imported here: the agent starts without it, and huggingface_hub reads its settings at import.
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import HfHubHTTPError, filter_repo_objects

    if ref.kind != "hf":
        raise InvalidArgument(f"{ref} is not a Hugging Face reference")
    if constants.HF_HUB_OFFLINE:
        return _pull_offline(ref, store, progress)
    api = HfApi(token=token)  # None: huggingface_hub's own (HF_TOKEN, its token file)
    patterns = [ref.file] if ref.file else (list(ref.include) or None)
    try:
        info = api.model_info(ref.repository, revision=ref.tag)
        commit = info.sha
        if not commit:
            raise FailedPrecondition(f"{ref}: the Hub gave no commit for revision {ref.tag!r}")
        tree = {f.path: f for f in api.list_repo_tree(ref.repository, revision=commit, recursive=True)
                if hasattr(f, "blob_id")}
    except MeshError:
        raise
    except HfHubHTTPError as exc:
        raise _hub_error(ref, exc) from None
    except OSError as exc:
        raise Unavailable(f"{ref}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    if ref.file and ref.file not in tree:
        raise NotFound(f"{ref}: no file {ref.file!r} in {ref.repository} at {commit[:12]}")
    files = list(filter_repo_objects(sorted(tree), allow_patterns=patterns))
    if not files:
        raise NotFound(f"{ref}: nothing matched {patterns or 'the repo'} at {commit[:12]}")
    if on_total:
        on_total(sum(tree[rel].size for rel in files))
    store.ensure_space(sum(tree[rel].size for rel in files
                           if tree[rel].lfs is None or not store.has(format_digest(tree[rel].lfs.sha256))))
    storage = hf_fetch.repo_cache_dir(constants.HF_HUB_CACHE, ref.repository)
    out = _out_dir(store, ref, commit, patterns)
    for rel in files:
        entry = tree[rel]
        source = hf_fetch.HubFileSource(constants.ENDPOINT, ref.repository, commit, rel, token, f"{ref}: {rel}")
        if entry.lfs is not None:
            blob = RegistryBlobFetch(store, source, format_digest(entry.lfs.sha256), entry.lfs.size,
                                     piece_size=piece_size, progress=progress, stats=stats).run()
            etag = entry.lfs.sha256
        else:
            data = source.whole(entry.size)
            if len(data) != entry.size or _git_blob_id(data) != entry.blob_id:
                raise FailedPrecondition(f"{ref}: {rel} does not match its git blob id on the Hub; not registered")
            etag = entry.blob_id
            cached = hf_fetch.write_small_blob(storage, etag, data)
            blob = store.adopt(cached, format_digest(hashlib.sha256(data).hexdigest()))
            if progress:
                progress(entry.size, entry.size)
        hf_fetch.place_in_hf_cache(storage, commit, rel, blob, etag)
        _link(blob, out / rel)
    hf_fetch.record_revision(storage, ref.tag, commit)
    base, relation = _base_model(getattr(info, "card_data", None), out, files)
    return HfPulled(_model_path(out, files), commit, base, relation)


def _pull_offline(ref: HubRef, store: BlobStore, progress) -> HfPulled:
    """HF_HUB_OFFLINE: what this host's HF cache already holds at that revision, each file
    checked against the name huggingface_hub gave its blob (the sha256, or the git blob id)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import filter_repo_objects

    patterns = [ref.file] if ref.file else (list(ref.include) or None)
    try:
        snapshot = Path(snapshot_download(ref.repository, revision=ref.tag, allow_patterns=patterns,
                                          local_files_only=True))
    except Exception as exc:  # huggingface_hub's LocalEntryNotFoundError and kin: not in the cache
        raise Unavailable(f"{ref}: Offline mode is on (HF_HUB_OFFLINE) and this host's HF cache does not "
                          f"hold it ({type(exc).__name__})") from None
    commit = snapshot.name
    everything = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())
    files = list(filter_repo_objects(everything, allow_patterns=patterns))
    if not files:
        raise NotFound(f"{ref}: the HF cache holds nothing of it matching {patterns or 'the repo'}")
    out = _out_dir(store, ref, commit, patterns)
    for rel in files:
        cached = (snapshot / rel).resolve()
        size, digest = hash_file(cached)
        etag = cached.name
        if not (etag == digest.split(":", 1)[1] or (re.fullmatch(r"[0-9a-f]{40}", etag)
                                                     and _git_blob_id_of_file(cached, size) == etag)):
            raise FailedPrecondition(f"{ref}: {rel} in the HF cache does not match the hash it is kept under; "
                                     "not registered")
        blob = store.adopt(cached, digest)
        _link(blob, out / rel)
        if progress:
            progress(size, 0)
    base, relation = _base_model(None, out, files)
    return HfPulled(_model_path(out, files), commit, base, relation)


def _out_dir(store: BlobStore, ref: HubRef, commit: str, patterns) -> Path:
    leaf = commit if not patterns else f"{commit}-{hashlib.sha256(repr(sorted(patterns)).encode()).hexdigest()[:8]}"
    return store.models_dir.joinpath("hub", "huggingface.co", ref.namespace, ref.model, leaf)


def _model_path(out: Path, files: list[str]) -> Path:
    ggufs = [rel for rel in files if rel.lower().endswith(".gguf")]
    if len(ggufs) == 1 and not any(rel.endswith((".safetensors", ".bin")) for rel in files):
        return out / ggufs[0]  # a GGUF repo: the model is its GGUF (the rest are its card)
    return out


def _link(blob: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.link(blob, target)
    except OSError:
        copy_blob(blob, target)


def _git_blob_id(data: bytes) -> str:
    """How the Hub names a small file: its git blob id."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git_blob_id_of_file(path: Path, size: int) -> str:
    blob = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            blob.update(chunk)
    return blob.hexdigest()


def _base_model(card_data, out: Path, files: list[str]) -> tuple[str, str]:
    """The base model a repo names: its card's ``base_model`` (the Hub's cardData, else the
    README.md front matter pulled with it), else adapter_config.json's base_model_name_or_path;
    with the card's base_model_relation when it is one the registry knows."""
    card = dict(card_data.to_dict()) if card_data is not None and hasattr(card_data, "to_dict") else {}
    if not card.get("base_model") and "README.md" in files:
        try:
            from huggingface_hub import ModelCard
            card = ModelCard.load(out / "README.md").data.to_dict()
        except Exception:  # a card without front matter, or front matter that is not YAML: no base
            card = {}
    base = card.get("base_model")
    if isinstance(base, list):
        base = base[0] if len(base) == 1 else ""  # a merge of several: no single base to name
    relation = str(card.get("base_model_relation") or "")
    if not base and "adapter_config.json" in files:
        try:
            base = json.loads((out / "adapter_config.json").read_text()).get("base_model_name_or_path")
        except (OSError, ValueError, AttributeError):
            base = ""
        relation = relation or "adapter"
    base = base if isinstance(base, str) else ""
    return base.strip(), relation if relation in RELATIONS and base else ""


def _hub_error(ref: HubRef, exc) -> MeshError:
    name = type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", 0)
    if name == "RepositoryNotFoundError":
        return NotFound(f"{ref}: no such repository on the Hub (or it is private and this agent has no token)")
    if name == "RevisionNotFoundError":
        return NotFound(f"{ref}: no revision {ref.tag!r} in {ref.repository}")
    if name in ("EntryNotFoundError", "RemoteEntryNotFoundError"):
        return NotFound(f"{ref}: no such file in {ref.repository}")
    if name == "GatedRepoError" or status in (401, 403):
        return PermissionDenied(f"{ref}: the Hub refused access ({status or 'gated'}); give this agent a token "
                                "(`meshctl hub login hf --host HOST`, or HF_TOKEN in its environment)")
    if status == 429:
        return ResourceExhausted(f"{ref}: the Hub is rate-limiting this host (429); try again later")
    return Unavailable(f"{ref}: the Hub answered {status or name}")


def push_hf(ref: HubRef, files: list[tuple[str, Path]], token: str | None, message: str) -> dict:
    """Upload ``files`` ((path in the repo, local file)) to the Hub repo ``ref`` as one commit on
    its revision (a branch), creating the repo (private) and the branch if they are missing. Files the repo already has with
    the same content are not sent (huggingface_hub's preupload check); LFS files go by the Hub's
    LFS batch protocol, or by Xet when hf_xet is installed and the Hub offers it."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token
    from huggingface_hub.utils import HfHubHTTPError

    if ref.kind != "hf" or ref.file or ref.include:
        raise InvalidArgument(f"{ref}: push to a Hugging Face repo names the repo (hf.co/ORG/REPO[:BRANCH]), "
                              "not a file of it")
    token = token or get_token()  # the agent's own `hub login hf`, else HF_TOKEN / huggingface_hub's token file
    if not token:
        raise PermissionDenied(f"{ref}: this agent has no Hugging Face token; give it one with "
                               "`meshctl hub login hf --host HOST` (or HF_TOKEN in its environment)")
    api = HfApi(token=token)
    operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path in files]
    try:
        api.create_repo(ref.repository, private=True, exist_ok=True)
        if ref.tag != "main":  # a commit goes onto a branch, which the Hub wants to exist first
            api.create_branch(ref.repository, branch=ref.tag, exist_ok=True)
        info = api.create_commit(ref.repository, operations, commit_message=message, revision=ref.tag)
    except HfHubHTTPError as exc:
        raise _push_error(ref, exc) from None
    except RuntimeError as exc:  # huggingface_hub wraps an LFS upload's failure
        if isinstance(exc.__cause__, HfHubHTTPError):
            raise _push_error(ref, exc.__cause__) from None
        raise Unavailable(f"{ref}: {' '.join(str(exc).split())[:300]}") from None
    except (OSError, ValueError) as exc:
        raise Unavailable(f"{ref}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    sent = [op for op in operations if op._remote_oid is None or op._remote_oid != op._local_oid]
    return {"manifest_digest": info.oid, "blobs_sent": len(sent), "blobs_skipped": len(operations) - len(sent),
            "bytes_sent": sum(op.upload_info.size for op in sent)}


def _push_error(ref: HubRef, exc) -> MeshError:
    status = getattr(getattr(exc, "response", None), "status_code", 0)
    if status in (401, 403):
        return PermissionDenied(f"{ref}: the Hub refused the upload ({status}); this agent needs a token with "
                                "write access to it (`meshctl hub login hf --host HOST`)")
    return _hub_error(ref, exc)
