"""`meshctl hub login`: a hub credential for the agent on THIS host, written into its home (0600).
Run it on the host whose agent should use it: the secret never travels to the coordinator."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from llmesh.agent.hubs import credentials
from llmesh.cli import render
from llmesh.common.config import home_from_env
from llmesh.common.errors import InvalidArgument
from llmesh.common.refs import parse_hub_ref


@click.group("hub")
def hub():
    """Credentials for the hubs (Hugging Face, OCI/Ollama registries), held by this host's agent."""


@click.command("login")
@click.argument("target", metavar="hf|REGISTRY[:PORT]")
@click.option("--username", default="", help="The registry user (not for hf).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The agent's home on this host (default LLMESH_HOME/agent).")
@render.output(lambda r: click.echo(f"stored a credential for {r['hub']} in {r['path']} (this host's agent only)"))
@click.pass_obj
def login(obj, target, username, home):
    """Read a password or token from standard input and keep it for this host's agent."""
    if target.lower() != credentials.HF:
        try:
            ref = parse_hub_ref(f"{target}/x/y")  # a registry host, checked as a ref's host is
        except InvalidArgument:
            raise InvalidArgument(f"invalid registry {target!r}: expected hf or HOST[:PORT]") from None
        if ref.kind != "oci":
            raise InvalidArgument(f"{target!r}: use `hf` for Hugging Face")
        target = ref.registry
    secret = sys.stdin.readline().strip()
    path = credentials.save((home or home_from_env(obj.env) / "agent").resolve(), target, username=username,
                            secret=secret)
    return {"hub": target, "path": str(path)}
