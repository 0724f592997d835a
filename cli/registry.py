"""`meshctl events` and `meshctl registry import|export`: the registry's history, and the
whole registry as a file."""
from __future__ import annotations

import json
from pathlib import Path

import click

from llmesh.cli import bundles, render
from llmesh.common import bundles as common_bundles
from llmesh.common.errors import InvalidArgument


def show_events(events) -> None:
    for event in events:  # a list, or a stream with --follow
        detail = " ".join(f"{k}={v}" for k, v in sorted(event["detail"].items()))
        click.echo(f"{render.when(event['ts'])} #{event['id']} {event['actor'] or '-'} {event['action']} "
                   f"{event['resource']} {detail}".rstrip())


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they happen (Ctrl-C stops).")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="How many past events to show first.")
@click.option("--resource", default="", help="Only events about this resource (e.g. NAME or NAME:VER).")
@render.output(show_events, json_help="Print JSON (with --follow, one object per line).")
@click.pass_obj
def events(obj, follow, limit, resource):
    """Registry events (also the audit log): registrations, state and alias moves, scores, …"""
    if follow:
        return _follow(obj, limit, resource)
    with obj.client() as mesh:
        return list(mesh.events(limit=limit, resource=resource))


def _follow(obj, limit: int, resource: str):
    with obj.client() as mesh:
        yield from mesh.events(limit=limit, follow=True, resource=resource)


@click.group()
def registry():
    """The whole registry as a file: import predecessor registries, export and re-import."""


def show_import(report: dict, file: Path) -> None:
    if report.get("format") == "adapter-bundle":
        bundles.show_bundle_import(report)
        return
    click.echo(f"{'would import' if report['dry_run'] else 'imported'} from {file.name} ({report['format']}): "
               f"{report['models']} models, {report['versions']} versions, {report['skipped']} skipped, "
               f"{len(report['problems'])} problems")
    for problem in report["problems"]:
        click.echo(f"  - {problem}")


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "llmesh", "hafs", "afs-registry", "afs-lineage", "imageworks"]),
              help="The file's format (auto: detected from its shape).")
@click.option("--dry-run", is_flag=True, help="Report what would be imported; change nothing.")
@click.option("--map-host", "map_hosts", multiple=True, metavar="LOCATION=HOST",
              help="Record the file's location LOCATION (hafs: windows, mac; a path without one: local) "
                   "as copies on HOST (repeatable).")
@click.option("--to", "to_host", default="", metavar="HOST",
              help="An adapter bundle (FILE.tar): the agent whose root gets the adapters' files.")
@render.output(show_import)
@click.pass_obj
def import_file(obj, file, fmt, dry_run, map_hosts, to_host):
    """Import an llmesh export, a hafs or afs registry.json, an afs lineage.json or an imageworks
    model_registry.json; every field is mapped or reported (and kept under extra). An adapter
    bundle (`meshctl adapters bundle`) is verified against its manifest, written to --to HOST
    and registered there with its records and lineage."""
    if file.is_file() and (file.suffix == ".tar" or common_bundles.is_bundle(file)):
        if map_hosts or fmt != "auto":
            raise InvalidArgument("--map-host and --format are for registry files, not adapter bundles")
        with obj.client() as mesh:
            return bundles.import_bundle(mesh, file, to_host, dry_run)
    if to_host:
        raise InvalidArgument("--to is for adapter bundles (FILE.tar from meshctl adapters bundle)")
    host_map = {}
    for pair in map_hosts:
        location, sep, host = pair.partition("=")
        if not sep or not location or not host:
            raise click.BadParameter(f"{pair!r}: expected LOCATION=HOST, e.g. windows=trainer",
                                     param_hint="'--map-host'")
        host_map[location] = host
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {file}: {exc.strerror or exc}") from None
    with obj.client() as mesh:
        return mesh.import_registry(content, file.name, fmt, dry_run, host_map)


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@render.output(lambda summary: click.echo(f"exported {summary['models']} models, {summary['versions']} versions "
                                          f"to {summary['file']}"),
               json_help="Print a JSON summary.")
@click.pass_obj
def export_file(obj, file):
    """Write the whole registry as JSON (`meshctl registry import` reads it back losslessly)."""
    with obj.client() as mesh:
        data = mesh.export_registry()
    tmp = file.with_name(file.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(file)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {file}: {exc.strerror or exc}") from None
    return {"file": str(file), "models": len(data["models"]),
            "versions": sum(len(m["versions"]) for m in data["models"])}
