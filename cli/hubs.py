"""`meshctl hub login`: a hub credential for one agent, written into its home (0600). Without
--host it is the agent on THIS host (written here, nothing travels); with --host H the coordinator
relays it over H's link to that agent alone, and neither logs nor stores it (its audit log names
who, which host, which hub, never the secret)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from llmesh.agent.hubs import credentials
from llmesh.cli import render
from llmesh.common.config import home_from_env
from llmesh.common.errors import InvalidArgument
from llmesh.common.refs import parse_hub_target


@click.group("hub")
def hub():
    """Credentials for the hubs (Hugging Face, OCI/Ollama registries), held by an agent."""


def _show(result: dict) -> None:
    where = f"on {result['host']} ({result['path']})" if result.get("host") else f"in {result['path']}"
    click.echo(f"stored a credential for {result['hub']} {where}: that agent only")


@click.command("login")
@click.argument("target", metavar="hf|REGISTRY[:PORT]")
@click.option("--host", default="", help="The agent to hold it, reached through the coordinator "
                                         "(default: the agent on this host, written here).")
@click.option("--username", default="", help="The registry user (not for hf).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Without --host: the agent's home on this host (default LLMESH_HOME/agent).")
@render.output(_show)
@click.pass_obj
def login(obj, target, host, username, home):
    """Read a password or token from standard input and keep it for one agent."""
    target = parse_hub_target(target)
    if target == credentials.HF and username:
        raise InvalidArgument("--username is for a registry; a Hugging Face token needs none")
    secret = sys.stdin.readline().strip()
    if not secret:
        raise InvalidArgument("an empty secret: give the password or token on standard input")
    if host:
        if home:
            raise InvalidArgument("--home is for this host's agent; with --host the agent keeps it in its own home")
        with obj.client() as mesh:
            return mesh.hub_login(host, target, secret, username)
    path = credentials.save((home or home_from_env(obj.env) / "agent").resolve(), target, username=username,
                            secret=secret)
    return {"hub": target, "path": str(path)}
