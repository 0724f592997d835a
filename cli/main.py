"""meshctl's entry point: the root group, shared options, and error handling.

Expected failures (llmesh.common.errors.MeshError) print one line, ``error: …``, and
exit 1; usage mistakes exit 2 (click's convention); Ctrl-C exits 130.
"""
from __future__ import annotations

import os
import sys

import click

from llmesh.common.errors import MeshError
from llmesh.sdk.client import MeshClient


class MeshGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MeshError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


class Context:
    """What every command gets: how to reach the coordinator, read once."""

    def __init__(self, coordinator: str | None, timeout: float):
        self.coordinator = coordinator
        self.timeout = timeout
        self.env = dict(os.environ)

    def client(self) -> MeshClient:
        return MeshClient.connect(self.coordinator, self.env, self.timeout)


@click.group(cls=MeshGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--coordinator", metavar="HOST:PORT",
              help="Coordinator to talk to (default: LLMESH_COORDINATOR, then the one `meshctl up` "
                   "started for LLMESH_HOME).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for an answer.")
@click.version_option(package_name="llmesh", prog_name="meshctl")
@click.pass_context
def cli(ctx, coordinator, timeout):
    """llmesh: track, move, convert and serve LLMs across your machines."""
    ctx.obj = Context(coordinator, timeout)


def _register_commands() -> None:
    from llmesh.cli import admin, hosts, models, serve, serving, transfer

    for command in (serve.up, serve.coordinator, serve.agent, hosts.hosts, hosts.gpus, hosts.rescan,
                    models.models, admin.token, admin.user, admin.audit, admin.login, admin.whoami,
                    transfer.jobs, serving.deployments):
        cli.add_command(command)
    from llmesh.cli import catalog  # adds the catalog's subcommands to `models`; `events` and `registry`
    cli.add_command(catalog.events)
    cli.add_command(catalog.registry)


_register_commands()


def main() -> None:
    cli(prog_name="meshctl")


if __name__ == "__main__":
    sys.exit(main())
