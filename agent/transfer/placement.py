"""Where a pull's files go besides the store, and whether they fit, decided before the first byte.

``check_pull`` refuses a pull this host could not finish: the store's disk too small for the
blobs it lacks, or a --dest folder outside the roots (once links are resolved), already taken or
on a disk too small for a copy. ``place`` puts the files into --dest: hard links (copies across
disks), built beside the target and renamed into place; on any failure the half-built folder
is removed and one error says why.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from llmesh.agent.inventory.holdings import Holdings
from llmesh.agent.store.blob_io import os_error
from llmesh.agent.store.blobs import DEFAULT_RESERVE, BlobStore
from llmesh.common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from llmesh.common.units import human_size

BUILDING_SUFFIX = ".partial-copy"
HIDDEN_PREFIX = ".llmesh-"  # the store's own bookkeeping inside a model directory, never placed


def placement_target(holdings: Holdings, name: str, version: int, dest_dir: str) -> Path:
    """The folder --dest DEST_DIR will get; refuses a DEST_DIR outside the roots (a symlink out
    of them included) and a target that exists already."""
    dest = holdings.check_under_roots(Path(dest_dir))  # resolved: links cannot lead outside
    if dest.exists() and not dest.is_dir():
        raise InvalidArgument(f"--dest {dest_dir} is not a folder")
    target = dest / f"{name.replace('/', '--')}-v{version}"
    if os.path.lexists(target):
        raise FailedPrecondition(f"{target} already exists")
    return target


def check_pull(store: BlobStore, holdings: Holdings, name: str, version: int, files: Iterable,
               dest_dir: str, reserve: int = DEFAULT_RESERVE) -> Path | None:
    """Raise the one reason this host cannot take these files (and place them in dest_dir);
    returns the folder --dest will get (None without one)."""
    files = list(files)
    unique = {f.digest: f.size for f in files}
    # Files already held anywhere under the roots are linked into the store: no new bytes.
    store.ensure_space(store.space_needed(
        (d, s) for d, s in unique.items() if holdings.local_file(d) is None), reserve)
    if not dest_dir:
        return None
    target = placement_target(holdings, name, version, dest_dir)
    disk = _existing_ancestor(target.parent)
    if _same_disk(disk, store.models_dir):
        return target  # hard links: no new bytes
    needed = sum(f.size for f in files)
    free = shutil.disk_usage(disk).free
    if needed + reserve > free:
        raise ResourceExhausted(
            f"disk of --dest {dest_dir} too small: need {human_size(needed)} "
            f"(+{human_size(reserve)} spare) to copy {name}:{version} there, {human_size(free)} free")
    return target


def place(materialised: Path, target: Path) -> Path:
    """The files of ``materialised`` in ``target``: built beside it, renamed into place; nothing
    is left behind if that fails."""
    building = target.with_name(target.name + BUILDING_SUFFIX)
    shutil.rmtree(building, ignore_errors=True)  # a crashed earlier attempt
    try:
        _link_tree(materialised, building, _link_or_copy)
        os.rename(building, target)
    except OSError as e:
        shutil.rmtree(building, ignore_errors=True)
        raise os_error(e, f"placing the files in {target.parent}") from None
    return target


def _link_tree(src: Path, dst: Path, place_file: Callable[[str, str], None]) -> None:
    dst.mkdir(parents=True)
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(HIDDEN_PREFIX))
        into = dst / os.path.relpath(dirpath, src)
        into.mkdir(exist_ok=True)
        for file_name in sorted(filenames):
            if not file_name.startswith(HIDDEN_PREFIX):
                place_file(os.path.join(dirpath, file_name), str(into / file_name))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)  # another disk, or no hard links there


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _same_disk(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False
