"""People, tokens, hosts' removal, the audit log: `meshctl token|user|audit|login|whoami`."""
from __future__ import annotations

import time

import click

from llmesh.cli import render
from llmesh.common import tls
from llmesh.common.config import ClientConfig, check_address, home_from_env, write_credentials
from llmesh.common.errors import InvalidArgument
from llmesh.sdk.client import USER_TOKEN_PREFIX, MeshClient

ROLES = ["viewer", "developer", "operator", "admin"]


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '7d' or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise InvalidArgument(f"invalid duration {text!r}: use e.g. 90s, 15m, 1h, 7d") from None


@click.group()
def token():
    """Join tokens for agents."""


@token.command("create")
@click.option("--role", type=click.Choice(["agent"]), default="agent", show_default=True)
@click.option("--ttl", default="1h", show_default=True, help="How long the token can be used (90s, 15m, 1h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def token_create(obj, role, ttl, as_json):
    """A one-time join token that also pins the mesh CA (K10<ca-sha256>::<secret>)."""
    with obj.client() as mesh:
        result = mesh.create_join_token(role, parse_duration(ttl))
    if as_json:
        render.emit_json(result)
        return
    click.echo(result["token"])
    click.echo(f"one-time, expires {render.when(result['expires_at'])}; on the new host: "
               "meshctl agent run --coordinator HOST:PORT --token <token> --root PATH", err=True)


@click.group()
def user():
    """People and their API tokens."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer reads; developer registers and annotates; operator also moves, converts and "
                   "deploys; admin manages users, tokens and hosts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def user_add(obj, name, role, as_json):
    """Add a person; prints their API token once (only its hash is kept)."""
    with obj.client() as mesh:
        result = mesh.add_user(name, role)
    if as_json:
        render.emit_json(result)
        return
    click.echo(result["token"])
    click.echo(f"user {name} ({role}) added; give them the token above: "
               "meshctl login HOST:PORT --token <token>", err=True)


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def user_list(obj, as_json):
    """Everyone with an API token."""
    with obj.client() as mesh:
        rows = mesh.users()
    if as_json:
        render.emit_json(rows)
        return
    t = render.table("NAME", "ROLE", "CREATED", "BY")
    for u in rows:
        t.add_row(u["name"], u["role"], render.when(u["created_at"]), u["created_by"])
    render.print_table(t)


@user.command("rm")
@click.argument("name")
@click.pass_obj
def user_rm(obj, name):
    """Remove a person; their token stops working at once."""
    with obj.client() as mesh:
        mesh.remove_user(name)
    click.echo(f"user {name} removed")


@click.command()
@click.option("--since", default="", help="Only events newer than this (e.g. 1h, 7d).")
@click.option("--actor", default="", help="Only this actor (user name or agent:<id>).")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def audit(obj, since, actor, limit, as_json):
    """Every change and every refusal: who, role, action, resource, result, source, time."""
    since_ts = time.time() - parse_duration(since) if since else 0.0
    with obj.client() as mesh:
        rows = mesh.audit(since_ts, actor, limit)
    if as_json:
        render.emit_json(rows)
        return
    if render.say_if_empty(rows, "events"):
        return
    t = render.table("TIME", "ACTOR", "ROLE", "ACTION", "RESOURCE", "RESULT", "SOURCE")
    for e in rows:
        result = e["result"] if e["result"] == "ok" else f"[red]{e['result']}[/red]"
        t.add_row(render.when(e["ts"]), e["actor"], e["role"], e["action"], e["resource"], result, e["source"])
    render.print_table(t)


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def whoami(obj, as_json):
    """Who the coordinator thinks you are."""
    with obj.client() as mesh:
        me = mesh.whoami()
    if as_json:
        render.emit_json(me)
    else:
        click.echo(f"{me['name']} ({me['role']})")
