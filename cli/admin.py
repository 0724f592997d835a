"""People, tokens, hosts' removal, the audit log: `meshctl token|user|audit|login|whoami`."""
from __future__ import annotations

import time

import click
from rich.markup import escape

from llmesh.cli import render
from llmesh.common import tls
from llmesh.common.config import ClientConfig, check_address, home_from_env, write_credentials
from llmesh.common.units import parse_duration
from llmesh.sdk.client import USER_TOKEN_PREFIX, MeshClient

ROLES = ["viewer", "developer", "operator", "admin"]


@click.group()
def token():
    """Join tokens for agents."""


def show_join_token(result: dict) -> None:
    click.echo(result["token"])
    click.echo(f"one-time, expires {render.when(result['expires_at'])}; on the new host: "
               "meshctl agent run --coordinator HOST:PORT --token <token> --root PATH", err=True)


@click.command("create")
@click.option("--role", type=click.Choice(["agent"]), default="agent", show_default=True)
@click.option("--ttl", default="1h", show_default=True, help="How long the token can be used (90s, 15m, 1h, 7d).")
@render.output(show_join_token)
@click.pass_obj
def token_create(obj, role, ttl):
    """A one-time join token that also pins the mesh CA (K10<ca-sha256>::<secret>)."""
    with obj.client() as mesh:
        return mesh.create_join_token(role, parse_duration(ttl))


@click.group()
def user():
    """People and their API tokens."""


def show_new_user(result: dict, name: str, role: str) -> None:
    click.echo(result["token"])
    click.echo(f"user {name} ({role}) added; give them the token above: "
               "meshctl login HOST:PORT --token <token>", err=True)


@click.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer reads; developer registers and annotates; operator also moves, converts and "
                   "deploys; admin manages users, tokens and hosts.")
@render.output(show_new_user)
@click.pass_obj
def user_add(obj, name, role):
    """Add a person; prints their API token once (only its hash is kept)."""
    with obj.client() as mesh:
        return mesh.add_user(name, role)


def show_users(rows: list[dict]) -> None:
    t = render.table("NAME", "ROLE", "CREATED", "BY")
    for u in rows:
        t.add_row(u["name"], u["role"], render.when(u["created_at"]), u["created_by"])
    render.print_table(t)


@click.command("list")
@render.output(show_users)
@click.pass_obj
def user_list(obj):
    """Everyone with an API token."""
    with obj.client() as mesh:
        return mesh.users()


@click.command("rm")
@click.argument("name")
@click.pass_obj
def user_rm(obj, name):
    """Remove a person; their token stops working at once."""
    with obj.client() as mesh:
        mesh.remove_user(name)
    click.echo(f"user {name} removed")


def show_audit(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "events"):
        return
    t = render.table("TIME", "ACTOR", "ROLE", "ACTION", "RESOURCE", "RESULT", "SOURCE")
    for e in rows:
        result = e["result"] if e["result"] == "ok" else f"[red]{e['result']}[/red]"
        t.add_row(render.when(e["ts"]), e["actor"], e["role"], e["action"], _resource(e), result, e["source"])
    render.print_table(t)


def _resource(event: dict) -> str:
    """A peer read also says how much, for which job, from which host (and why it was refused)."""
    if event["action"] != "peer.read":
        return event["resource"]
    d = event["detail"]
    reader = d.get("reader_host") or "?"
    text = f"{render.short_digest(event['resource'])} {render.size(d.get('bytes'))} {d.get('source_host', '?')}→{reader}"
    text += f" job {d['job']}" if d.get("job") else ""
    return escape(text + (f": {d['error']}" if d.get("error") else ""))


@click.command()
@click.option("--since", default="", help="Only events newer than this (e.g. 1h, 7d).")
@click.option("--actor", default="", help="Only this actor (user name or agent:<id>).")
@click.option("--action", default="", help="Only this action (user.add) or family of actions (user).")
@click.option("--limit", type=click.IntRange(min=0), default=200, show_default=True)
@render.output(show_audit)
@click.pass_obj
def audit(obj, since, actor, action, limit):
    """Every change and every refusal: who, role, action, resource, result, source, time."""
    since_ts = time.time() - parse_duration(since) if since else 0.0
    with obj.client() as mesh:
        return mesh.audit(since_ts, actor, limit, action)


@click.command()
@click.argument("address", metavar="HOST:PORT")
@click.option("--token", required=True, metavar="L10…", help="Your API token (it pins the mesh CA).")
@click.pass_obj
def login(obj, address, token):
    """Save a coordinator's address, CA and your token for later commands (file 0600)."""
    pin, _ = tls.parse_token(token, USER_TOKEN_PREFIX)
    ca_pem = tls.fetch_ca(check_address(address), pin)
    with MeshClient(ClientConfig(address, "meshctl login", obj.timeout, token, ca_pem)) as mesh:
        me = mesh.whoami()
    path = write_credentials(home_from_env(obj.env), address, token, ca_pem)
    click.echo(f"logged in to {address} as {me['name']} ({me['role']}); credentials in {path}")


@click.command()
@render.output(lambda me: click.echo(f"{me['name']} ({me['role']})"))
@click.pass_obj
def whoami(obj):
    """Who the coordinator thinks you are."""
    with obj.client() as mesh:
        return mesh.whoami()
