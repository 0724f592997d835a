"""Adapter bundles: LoRA adapters in one tar, for another mesh (`meshctl adapters bundle`,
`meshctl registry import FILE.tar`).

    manifest.json                      format, created_at, adapters: [{name, version, digest,
                                       files: [{path, size, sha256}], base: {...}, record: {...}}]
    adapters/NAME/vVERSION/<files>     each adapter's files, as the registry lists them

``base`` says what the adapter needs under it: the base id its adapter_config.json names, and
when the registry knew the base as a version, its NAME:VERSION, digest, architecture and sizes
(the compatibility facts). ``record`` is the registry's record of the adapter (roles, tags,
metrics, params, notes, description), registered again with it on the other mesh.

Reading verifies every file against the manifest's sha256 before anything is written or
registered: a tampered, truncated or padded bundle is refused whole.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from llmesh.common.errors import InvalidArgument

FORMAT = "llmesh-adapter-bundle/1"
MANIFEST = "manifest.json"


def member_path(name: str, version: int, rel: str) -> str:
    return f"adapters/{name}/v{version}/{rel}"


def write_bundle(out: Path, adapters: list[dict], sources: dict[tuple[str, int], Path]) -> dict:
    """Write the tar: ``adapters`` are manifest entries without file hashes yet; ``sources`` the
    local folder of each (name, version). Each file is hashed as it is read, and must match the
    registry's digest (what the manifest then promises)."""
    entries = []
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            for adapter in adapters:
                root = sources[(adapter["name"], adapter["version"])]
                files = []
                for f in adapter["files"]:
                    path = root / f["path"]
                    sha = _sha256_file(path)
                    if f.get("digest") and f["digest"] != "sha256:" + sha:
                        raise InvalidArgument(f"{adapter['name']}:{adapter['version']}: {path} no longer matches "
                                              "its registered digest (the copy drifted); not bundled")
                    tar.add(str(path), arcname=member_path(adapter["name"], adapter["version"], f["path"]),
                            recursive=False)
                    files.append({"path": f["path"], "size": path.stat().st_size, "sha256": sha})
                entries.append({**adapter, "files": files})
            manifest = {"format": FORMAT, "created_at": time.time(), "adapters": entries}
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidArgument(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return manifest


def is_bundle(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


@dataclass
class Bundle:
    manifest: dict
    path: Path

    @property
    def adapters(self) -> list[dict]:
        return self.manifest["adapters"]


def read_bundle(path: Path) -> Bundle:
    """The bundle's manifest, after checking that the tar holds exactly its files with their
    sha256 digests (InvalidArgument, one line, naming the first file that does not)."""
    try:
        with tarfile.open(path, "r") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if MANIFEST not in members:
                raise InvalidArgument(f"{path.name}: not an adapter bundle (no {MANIFEST})")
            manifest = _manifest(tar.extractfile(members[MANIFEST]).read(), path.name)
            expected = {}
            for a in manifest["adapters"]:
                for f in a["files"]:
                    expected[member_path(a["name"], a["version"], f["path"])] = f
            extra = sorted(set(members) - set(expected) - {MANIFEST})
            if extra:
                raise InvalidArgument(f"{path.name}: tampered: {extra[0]} is not in the manifest")
            for name, f in expected.items():
                member = members.get(name)
                if member is None or not member.isfile():
                    raise InvalidArgument(f"{path.name}: tampered: {name} is missing")
                digest = hashlib.sha256()
                reader = tar.extractfile(member)
                for chunk in iter(lambda: reader.read(1 << 20), b""):
                    digest.update(chunk)
                if digest.hexdigest() != f["sha256"] or member.size != f["size"]:
                    raise InvalidArgument(f"{path.name}: tampered: {name} does not match the manifest's sha256 "
                                          f"({f['sha256'][:12]}…); nothing imported")
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgument(f"{path.name}: not a readable tar ({exc})") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from None
    return Bundle(manifest, path)


def extract_adapter(bundle: Bundle, adapter: dict, dest: Path) -> None:
    """Write one adapter's files under DEST, hashing them again as they are written."""
    with tarfile.open(bundle.path, "r") as tar:
        for f in adapter["files"]:
            target = dest / PurePosixPath(f["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            reader = tar.extractfile(member_path(adapter["name"], adapter["version"], f["path"]))
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                for chunk in iter(lambda: reader.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != f["sha256"]:
                raise InvalidArgument(f"{bundle.path.name}: {f['path']} changed while it was read; nothing imported")


def _manifest(data: bytes, file_name: str) -> dict:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise InvalidArgument(f"{file_name}: its {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidArgument(f"{file_name}: not an adapter bundle of this llmesh (format {FORMAT})")
    for a in manifest.get("adapters") or []:
        for f in a.get("files") or []:
            rel = PurePosixPath(str(f.get("path", "")))
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise InvalidArgument(f"{file_name}: file path {f.get('path')!r} leaves its adapter's folder")
    if not manifest.get("adapters"):
        raise InvalidArgument(f"{file_name}: the manifest lists no adapters")
    return manifest


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
