"""`meshctl hosts`, `meshctl gpus`, `meshctl rescan`."""
from __future__ import annotations

import click

from llmesh.cli import render
from llmesh.cli.render import ago, size, status
from llmesh.common.errors import Internal
from llmesh.common.units import human_duration


def show_hosts(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "hosts yet: start an agent with `meshctl up` or `meshctl agent run`"):
        return
    t = render.table("NAME", "STATUS", "VERSION", "UPTIME", "PLATFORM", "CPU", "MEMORY", "ROOTS (free/total)",
                     "GPUS", "MODELS", "LAST SEEN")
    for h in rows:
        facts, hw = h["facts"], h["hardware"]
        roots = "\n".join(f"{d['path']} ({'error: ' + d['error'] if d['error'] else size(d['free_bytes']) + '/' + size(d['total_bytes'])})"
                          for d in hw.get("disks", [])) or "\n".join(h["roots"])
        gpus = "\n".join(f"{g['name']} ({size(g['memory_total_bytes'])})" for g in hw.get("gpus", [])) or "-"
        memory = f"{size(hw.get('memory_available_bytes'))} free / {size(facts['memory_total_bytes'])}"
        uptime = "-" if h.get("uptime_s") is None else human_duration(h["uptime_s"])
        t.add_row(h["name"], status(h["status"]) + (" (scanning)" if h["scanning"] else ""),
                  h["agent_version"] or "-", uptime,
                  f"{facts['platform']} {facts['arch']}\n{facts['os']}",
                  f"{facts['cpu_count']}× {facts['cpu_model'] or '?'}", memory, roots, gpus,
                  str(h["model_count"]), ago(h["last_seen"]))
    render.print_table(t)


def _host_json(h: dict) -> dict:
    """Flat keys people script against, plus the full facts and hardware."""
    facts, hw = h["facts"], h["hardware"]
    return {
        "name": h["name"], "id": h["id"], "status": h["status"], "platform": facts["platform"],
        "os": facts["os"], "arch": facts["arch"], "hostname": facts["hostname"],
        "cpu_count": facts["cpu_count"], "cpu_model": facts["cpu_model"],
        "memory_total_bytes": facts["memory_total_bytes"],
        "memory_available_bytes": hw.get("memory_available_bytes"),
        "roots": hw.get("disks") or [{"path": r} for r in h["roots"]],
        "gpus": hw.get("gpus", []), "gpu_error": hw.get("gpu_error", ""),
        "last_seen": h["last_seen"], "first_seen": h["first_seen"], "peer_address": h["peer_address"],
        "agent_version": h["agent_version"], "protocol": h["protocol"], "started_at": h["started_at"] or None,
        "uptime_s": h.get("uptime_s"), "labels": h["labels"], "scanning": h["scanning"],
        "model_count": h["model_count"], "problems": h["problems"],
        "last_scrub": h.get("last_scrub"),  # `meshctl scrub --status`'s row for this host, or None
    }


@click.group(invoke_without_command=True)
@render.output(show_hosts, to_json=lambda rows: [_host_json(h) for h in rows])
@click.pass_context
def hosts(ctx):
    """Every agent: status, llmesh version and uptime, platform, CPU, memory, model roots and GPUs."""
    if ctx.invoked_subcommand is not None:
        return None
    with ctx.obj.client() as mesh:
        rows = mesh.hosts()
        try:
            scrubs = {s["host"]: s for s in mesh.scrubs()}
        except Internal:  # a coordinator from before scrubs (UNIMPLEMENTED)
            scrubs = {}
    return [dict(h, last_scrub=scrubs.get(h["name"])) for h in rows]


@click.command("remove")
@click.argument("name")
@render.output(lambda result, name: click.echo(
    f"host {name} removed: certificate of agent {result['agent_id']} revoked, its link closed"
    + (f"; not yet confirmed by {', '.join(result['unconfirmed'])} (they refuse it once they reconnect)"
       if result["unconfirmed"] else "; every online agent refuses it")))
@click.pass_obj
def remove(obj, name):
    """Revoke a host's certificate and forget it (its files are untouched)."""
    with obj.client() as mesh:
        return mesh.remove_host(name)


def _flat_gpus(rows: list[dict]) -> list[dict]:
    return [dict(g, host=r["host"], host_status=r["status"], live=r["live"]) for r in rows for g in r["gpus"]]


def _opt(value, unit: str) -> str:
    return "n/a" if value is None else f"{value}{unit}"


def show_gpus(rows: list[dict]) -> None:
    t = render.table("HOST", "#", "NAME", "UUID", "MEMORY used/total", "UTIL", "TEMP", "POWER", "DRIVER",
                     "CUDA")
    for r in rows:
        if not r["gpus"]:
            note = r["gpu_error"] or "no GPUs"
            t.add_row(r["host"], "-", f"[dim]{note}[/dim]", "", "", "", "", "", "", "")
        for g in r["gpus"]:
            t.add_row(
                r["host"] + ("" if r["live"] else " [yellow](stale)[/yellow]"), str(g["index"]), g["name"],
                g["uuid"], f"{size(g['memory_used_bytes'])} / {size(g['memory_total_bytes'])}",
                _opt(g["utilization_percent"], "%"), _opt(g["temperature_c"], "°C"),
                _opt(None if g["power_watts"] is None else round(g["power_watts"]), " W"),
                g["driver_version"] or "-", g["cuda_version"] or "-")
    if render.say_if_empty(rows, "hosts"):
        return
    render.print_table(t)


@click.command()
@click.option("--host", default="", help="Only this host.")
@render.output(show_gpus, to_json=_flat_gpus)
@click.pass_obj
def gpus(obj, host):
    """Live GPU status across the mesh (NVIDIA through NVML; Apple unified memory)."""
    with obj.client() as mesh:
        return mesh.gpus(host)


@click.command()
@click.option("--host", default="", help="Only this host (default: every online host).")
@render.output(lambda asked: click.echo(f"rescan requested on {', '.join(asked)}" if asked
                                        else "no online hosts to rescan"))
@click.pass_obj
def rescan(obj, host):
    """Ask agents to rescan their model roots now (they also do so periodically)."""
    with obj.client() as mesh:
        return mesh.rescan(host)
