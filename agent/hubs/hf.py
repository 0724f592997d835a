"""Pulling a Hugging Face repo on this agent, through huggingface_hub itself.

The files land in this host's real HF cache (HF_HOME / HF_HUB_CACHE honoured, as are HF_ENDPOINT,
HF_TOKEN and HF_HUB_OFFLINE: huggingface_hub reads them), so transformers, vLLM and llama.cpp on
this host find them. The revision asked for is resolved to a commit first and everything is
fetched at that commit (recorded with the version). Each LFS file is then hashed and checked
against the sha256 the Hub publishes for it, each small file against its git blob id, before it
is adopted into the store (hard links) and laid out under the store's hub/ folder for the
coordinator to register. The token, if any, never leaves this agent.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
from llmesh.common.files import atomic_write
from llmesh.common.hashing import format_digest, hash_file
from llmesh.common.refs import HubRef


def pull_hf(ref: HubRef, store: BlobStore, progress=None, token: str | None = None) -> tuple[Path, str]:
    """Download ``ref`` into the HF cache and the store; (model directory, resolved commit)."""
    # Imported here: the agent starts without it, and huggingface_hub reads its settings at import.
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import HfHubHTTPError, filter_repo_objects

    if ref.kind != "hf":
        raise InvalidArgument(f"{ref} is not a Hugging Face reference")
    api = HfApi(token=token)  # None: huggingface_hub's own (HF_TOKEN, its token file)
    try:
        commit = api.model_info(ref.repository, revision=ref.tag).sha
        if not commit:
            raise FailedPrecondition(f"{ref}: the Hub gave no commit for revision {ref.tag!r}")
        tree = {f.path: f for f in api.list_repo_tree(ref.repository, revision=commit, recursive=True)
                if hasattr(f, "blob_id")}
        patterns = [ref.file] if ref.file else (list(ref.include) or None)
        if ref.file and ref.file not in tree:
            raise NotFound(f"{ref}: no file {ref.file!r} in {ref.repository} at {commit[:12]}")
        snapshot = Path(snapshot_download(ref.repository, revision=commit, allow_patterns=patterns,
                                            token=token))
    except MeshError:
        raise
    except HfHubHTTPError as exc:
        raise _hub_error(ref, exc) from None
    except OSError as exc:
        raise Unavailable(f"{ref}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    if ref.tag != commit:  # fetched by commit; the cache also says what the revision named, as a
        # fetch by branch would, so a plain snapshot_download(revision=…, local_files_only=True) finds it
        refs = snapshot.parent.parent / "refs" / ref.tag
        refs.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(refs, commit)
    # What this pull asked for (the snapshot folder may hold files of earlier pulls too).
    wanted = set(filter_repo_objects(sorted(tree), allow_patterns=patterns))
    files = [p for p in sorted(tree) if p in wanted and (snapshot / p).is_file()]
    if not files:
        raise NotFound(f"{ref}: nothing matched {patterns or 'the repo'} at {commit[:12]}")
    leaf = commit if not patterns else f"{commit}-{hashlib.sha256(repr(sorted(patterns)).encode()).hexdigest()[:8]}"
    out = store.models_dir.joinpath("hub", "huggingface.co", ref.namespace, ref.model, leaf)
    for rel in files:
        digest = _verified_digest(ref, snapshot / rel, tree[rel])
        blob = store.adopt((snapshot / rel).resolve(), digest)  # the cache blob, not its snapshot symlink
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(blob, target)
        except OSError:
            from llmesh.agent.hubs.fetch import copy_blob
            copy_blob(blob, target)
        if progress:
            progress(tree[rel].size, tree[rel].size)
    ggufs = [rel for rel in files if rel.lower().endswith(".gguf")]
    if len(ggufs) == 1 and not any(rel.endswith((".safetensors", ".bin")) for rel in files):
        return out / ggufs[0], commit  # a GGUF repo: the model is its GGUF (the rest are its card)
    return out, commit


def _verified_digest(ref: HubRef, path: Path, entry) -> str:
    """The file's sha256 digest, after checking it against what the Hub publishes for it."""
    size, digest = hash_file(path)
    if entry.lfs is not None:
        if digest != format_digest(entry.lfs.sha256) or size != entry.lfs.size:
            raise FailedPrecondition(f"{ref}: {entry.path} does not match the sha256 the Hub publishes "
                                     "for it; not registered")
        return digest
    blob = hashlib.sha1(b"blob %d\0" % size)  # a git blob id: how the Hub names a small file
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            blob.update(chunk)
    if blob.hexdigest() != entry.blob_id:
        raise FailedPrecondition(f"{ref}: {entry.path} does not match its git blob id on the Hub; not registered")
    return digest


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
