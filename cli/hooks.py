"""`meshctl hooks`: webhooks that receive registry events as signed JSON."""
from __future__ import annotations

import click
from rich.markup import escape

from llmesh.cli import render
from llmesh.common.errors import InvalidArgument

# What `--on` accepts; the coordinator checks them again (llmesh.coordinator.hooks.events).
EVENT_HELP = ("alias.moved, alias.removed, version.registered, version.state, model.deleted, job.finished, "
              "job.failed, job.cancelled, copy.drifted, deployment.started, deployment.stopped, host.joined, "
              "host.removed, or * for all")


@click.group()
def hooks():
    """Webhooks: POST registry events to URLs, signed with HMAC-SHA256 (header X-Llmesh-Signature)."""


def show_added(hook: dict) -> None:
    click.echo(f"hook {hook['id']} added: {', '.join(hook['events'])} -> {hook['url']}")
    click.echo(f"secret (shown once; receivers check X-Llmesh-Signature: sha256=HMAC(secret, body)): {hook['secret']}")


@click.command("add")
@click.argument("url")
@click.option("--on", "events", required=True, metavar="EVENT[,EVENT…]", help=f"Events to deliver: {EVENT_HELP}.")
@click.option("--secret", default="", help="The signing secret (default: a new random one, printed once).")
@render.output(show_added)
@click.pass_obj
def hooks_add(obj, url, events, secret):
    """Deliver events to URL (admin)."""
    names = [e.strip() for e in events.split(",") if e.strip()]
    if not names:
        raise InvalidArgument(f"--on needs at least one event: {EVENT_HELP}")
    with obj.client() as mesh:
        return mesh.hooks.add(url, names, secret)


def show_hooks(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "hooks"):
        return
    t = render.table("ID", "URL", "EVENTS", "CREATED", "BY")
    for h in rows:
        t.add_row(h["id"], escape(h["url"]), ", ".join(h["events"]), render.when(h["created_at"]), h["created_by"])
    render.print_table(t)


@click.command("list")
@render.output(show_hooks)
@click.pass_obj
def hooks_list(obj):
    """The webhooks (secrets are never shown again)."""
    with obj.client() as mesh:
        return mesh.hooks.list()


@click.command("rm")
@click.argument("hook_id", metavar="ID")
@click.pass_obj
def hooks_rm(obj, hook_id):
    """Remove a webhook (admin); its pending retries are dropped."""
    with obj.client() as mesh:
        mesh.hooks.remove(hook_id)
    click.echo(f"hook {hook_id} removed")


def show_log(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "deliveries"):
        return
    t = render.table("TIME", "HOOK", "EVENT", "DELIVERY", "ATTEMPT", "STATUS", "OUTCOME", "ERROR")
    for a in rows:
        outcome = a["outcome"] if a["outcome"] == "delivered" else f"[red]{a['outcome']}[/red]"
        t.add_row(render.when(a["ts"]), a["hook_id"], a["event"], a["delivery_id"][:12], str(a["attempt"]),
                  str(a["http_status"] or "-"), outcome, escape(a["error"]) if a["error"] else "")
    render.print_table(t)


@click.command("log")
@click.option("--hook", "hook_id", default="", metavar="ID", help="Only this hook's deliveries.")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True)
@render.output(show_log)
@click.pass_obj
def hooks_log(obj, hook_id, limit):
    """Delivery attempts, newest first: HTTP status, outcome (delivered, retrying, failed), error."""
    with obj.client() as mesh:
        return mesh.hooks.log(hook_id, limit)
