"""`meshctl adapters bundle` and the bundle half of `meshctl registry import FILE.tar`: LoRA
adapters with their records, carried to another mesh (format: common/bundles.py).

The bytes travel with the user: bundling reads a verified copy on this machine, and importing
writes under a root of the target agent on this machine, which then registers (hashes) them
as any registration does; the agent's digests are checked against the manifest's."""
from __future__ import annotations

import shutil
from pathlib import Path

import click

from llmesh.cli import render
from llmesh.common import bundles
from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError, NotFound

RECORD_FIELDS = ("roles", "tags", "metrics", "notes", "description", "semver", "display_name", "base_model")


@click.group("adapters")
def adapters():
    """LoRA adapters as a unit: bundles for another mesh."""


def _show_bundle(manifest: dict, out: Path) -> None:
    for a in manifest["adapters"]:
        base = a["base"].get("version_ref") or a["base"].get("id") or "unknown base"
        click.echo(f"{a['name']}:{a['version']}  {len(a['files'])} files  base {base}")
    click.echo(f"bundled {len(manifest['adapters'])} adapters into {out}")


@click.command("bundle")
@click.argument("refs", nargs=-1, required=True, metavar="NAME:VER...")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The tar to write.")
@render.output(_show_bundle, json_help="Print the manifest as JSON.")
@click.pass_obj
def bundle(obj, refs, out):
    """Write LoRA adapters into one tar with a manifest (each file's sha256, the base the adapter
    needs and its compatibility facts, the registry record): `meshctl registry import FILE.tar
    --to HOST` reads it on another mesh. Run it where a copy of each adapter is."""
    entries, sources = [], {}
    with obj.client() as mesh:
        for ref in refs:
            version = mesh.model(ref)
            label = f"{version['name']}:{version['version']}"
            if version["kind"] != "lora":
                raise InvalidArgument(f"{label} is not a LoRA adapter (kind {version['kind']})")
            sources[(version["name"], version["version"])] = _local_copy(version, label)
            entries.append({"name": version["name"], "version": version["version"], "digest": version["digest"],
                            "files": version["files"], "base": _base_facts(mesh, version),
                            "adapter_config": (version.get("metadata") or {}),
                            "record": _record(version)})
    return bundles.write_bundle(out, entries, sources)


def _local_copy(version: dict, label: str) -> Path:
    """A verified copy of the version whose folder is on this machine, with every file there."""
    for copy in version["copies"]:
        root = Path(copy["path"])
        if copy["state"] == "verified" and root.is_dir() and all((root / f["path"]).is_file()
                                                                 for f in version["files"]):
            return root
    held = ", ".join(c["host"] for c in version["copies"]) or "none"
    raise FailedPrecondition(f"{label} has no copy on this machine (copies on: {held}); run the bundle on "
                             "one of those hosts, or pull it to this one first")


def _base_facts(mesh, version: dict) -> dict:
    """What the adapter needs beneath it: the base id, and the registry's base version if known."""
    base = {"id": version.get("base_model") or (version.get("metadata") or {}).get("base_model", "")}
    parents = [p for p in (version.get("parents") or []) if p.get("relation") == "adapter"]
    if parents:
        try:
            found = mesh.model(f"{parents[0]['name']}:{parents[0]['version']}")
        except MeshError:
            return base
        meta = (found.get("metadata") or {})
        base.update({"version_ref": f"{found['name']}:{found['version']}", "digest": found["digest"],
                     "kind": found["kind"], "format": found["format"], "size_bytes": found["size_bytes"],
                     "architecture": meta.get("architecture", ""),
                     "hidden_size": meta.get("hidden_size"), "layers": meta.get("num_layers")})
    return base


def _record(version: dict) -> dict:
    record = {k: version.get(k) for k in RECORD_FIELDS if version.get(k)}
    if version.get("params"):
        record["params"] = version["params"]
    return record


# -- import -----------------------------------------------------------------------------------------

def import_bundle(mesh, path: Path, host_name: str, dry_run: bool) -> dict:
    """Verify the bundle, write its adapters under a root of HOST, and register them there with
    their records and lineage. Nothing is written or registered when a check fails."""
    bundle = bundles.read_bundle(path)
    if not host_name:
        raise InvalidArgument(f"{path.name} is an adapter bundle: say which agent gets its files: --to HOST")
    host = next((h for h in mesh.hosts() if h["name"] == host_name), None)
    if host is None:
        raise NotFound(f"no host {host_name!r} in this mesh")
    if host["status"] != "online":
        raise FailedPrecondition(f"{host_name} is {host['status']}: the adapters cannot land there now")
    root = next((Path(r) for r in host["roots"] if Path(r).is_dir()), None)
    if root is None:
        raise FailedPrecondition(f"{host_name}'s roots ({', '.join(host['roots']) or 'none'}) are not on this "
                                 f"machine: run the import on {host_name}")
    plan = []
    for a in bundle.adapters:
        dest = root / "imported" / f"{a['name'].replace('/', '--')}-v{a['version']}"
        if dest.exists():
            raise FailedPrecondition(f"{dest} exists already: {a['name']}:{a['version']} was imported before?")
        plan.append((a, dest, _parent_here(mesh, a["base"])))
    report = {"format": "adapter-bundle", "file": path.name, "host": host_name, "dry_run": dry_run,
              "adapters": [{"from": f"{a['name']}:{a['version']}", "path": str(dest), "base": parent or a["base"]["id"]}
                           for a, dest, parent in plan]}
    if dry_run:
        return report
    written = []
    try:
        for a, dest, _ in plan:
            written.append(dest)
            bundles.extract_adapter(bundle, a, dest)
    except BaseException:
        for dest in written:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    for entry, (a, dest, parent) in zip(report["adapters"], plan):
        entry.update(_register(mesh, a, dest, host_name, parent))
    return report


def _parent_here(mesh, base: dict) -> str:
    """The version of this mesh with the base's digest (same bytes: same base), as NAME:VER."""
    if not base.get("digest"):
        return ""
    for v in mesh.list_models(query=f"digest = '{base['digest']}'") if _digest_query_ok(base) else []:
        return f"{v['name']}:{v['version']}"
    return ""


def _digest_query_ok(base: dict) -> bool:
    return str(base["digest"]).startswith("sha256:") and "'" not in base["digest"]


def _register(mesh, adapter: dict, dest: Path, host: str, parent: str) -> dict:
    record = adapter.get("record") or {}
    facts = {k: record[k] for k in ("roles", "tags", "metrics", "notes", "description", "semver",
                                    "base_model") if record.get(k)}
    if record.get("params"):
        facts["params"] = record["params"]
    if parent:
        facts.update(parents=[parent], relation="adapter")
    label = f"{adapter['name']}:{adapter['version']}"
    try:
        result = mesh.register_version(str(dest), host, name=adapter["name"], **facts)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    registered = mesh.model(f"{adapter['name']}:{result['version']['version']}")
    theirs = {f["path"]: f["digest"] for f in registered["files"]}
    ours = {f["path"]: "sha256:" + f["sha256"] for f in adapter["files"]}
    if theirs != ours:
        raise FailedPrecondition(f"{label}: {host} hashed the imported files differently from the manifest")
    return {"version": f"{registered['name']}:{registered['version']}", "digest": registered["digest"]}


def show_bundle_import(report: dict) -> None:
    for a in report["adapters"]:
        to = a.get("version", "(dry run)")
        click.echo(f"{a['from']} -> {to} on {report['host']} at {a['path']}  base {a['base'] or '-'}")
    click.echo(f"{'would import' if report['dry_run'] else 'imported'} {len(report['adapters'])} adapters "
               f"from {report['file']} (verified against its manifest)")
