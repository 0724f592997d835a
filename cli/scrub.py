"""`meshctl scrub`: re-read and re-hash every copy the hosts hold; drift shows as it does for verify."""
from __future__ import annotations

import time

import click

from llmesh.cli import render
from llmesh.cli.render import ago, size
from llmesh.common.errors import FailedPrecondition

WAIT_POLL_S = 1.0
FINAL = ("done", "failed", "cancelled", "interrupted")


def show_scrubs(result: dict) -> None:
    rows = result["scrubs"]
    if result.get("offline"):
        render.console.print(f"not asked (offline): {', '.join(result['offline'])}")
    if render.say_if_empty(rows, "scrubs yet: run `meshctl scrub`"):
        return
    t = render.table("HOST", "STATE", "TRIGGER", "STARTED", "COPIES", "READ", "DRIFTED", "ID")
    for s in rows:
        state = s["state"] + (f": {s['error']}" if s["error"] else "")
        drifted = "\n".join(s["drifted_copies"]) if s["drifted"] else "0"
        if s["drifted"]:
            state = f"[red]{state}, {s['drifted']} drifted[/red]"
        elif s["state"] == "done":
            state = f"[green]{state}[/green]"
        t.add_row(s["host"], state,
                  s["trigger"], ago(s["started_at"]), f"{s['copies_checked']}/{s['copies_total']}",
                  f"{size(s['bytes_done'])}/{size(s['bytes_total'])}",
                  f"[red]{drifted}[/red]" if s["drifted"] else drifted, s["id"][:12])
    render.print_table(t)


def fail_if_drifted(result: dict, wait: bool) -> None:
    if not wait:
        return
    bad = [f"{s['host']}: {c}" for s in result["scrubs"] for c in s["drifted_copies"]]
    if bad:
        raise FailedPrecondition(f"{len(bad)} drifted cop{'y' if len(bad) == 1 else 'ies'}: {'; '.join(bad)}")
    failed = [f"{s['host']} ({s['state']}: {s['error']})" for s in result["scrubs"] if s["state"] != "done"]
    if failed:
        raise FailedPrecondition(f"scrub did not complete on {', '.join(failed)}")


@click.command()
@click.option("--host", default="", help="Only this host (default: every online host).")
@click.option("--wait", is_flag=True, help="Wait until each scrub ends; exit non-zero if a copy drifted.")
@click.option("--status", "show_status", is_flag=True, help="Show each host's last scrub; start none.")
@render.output(show_scrubs, check=fail_if_drifted)
@click.pass_obj
def scrub(obj, host, wait, show_status):
    """Integrity scrub: each host re-reads every copy it holds and hashes it in full, ignoring the
    hash cache, paced by the agent's --scrub-share (of the disk's time) and --scrub-rate. A copy
    whose bytes no longer match its version is marked drifted (`models info`, /metrics, the
    copy.drifted webhook). Agents also scrub on their own every --scrub-interval (weekly by default)."""
    with obj.client() as mesh:
        if show_status:
            return {"scrubs": mesh.scrubs(host), "offline": []}
        result = mesh.scrub(host)
        while wait and any(s["state"] not in FINAL for s in result["scrubs"]):
            time.sleep(WAIT_POLL_S)
            result["scrubs"] = mesh.scrubs(ids=[s["id"] for s in result["scrubs"]])
        return result
