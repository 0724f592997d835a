"""meshctl's entry point: the root group, shared options, and error handling.

Expected failures (llmesh.common.errors.MeshError) print one line, ``error: …``, and
exit 1; usage mistakes print one line too and exit 2 (click's convention); Ctrl-C exits 130.
"""
from __future__ import annotations

import os
import sys

import click

from llmesh.cli import (
    admin,
    bundles,
    catalog,
    dashboard,
    gates,
    hooks,
    hosts,
    hubs,
    install,
    models,
    recommend,
    registry,
    scrub,
    serve,
    serving,
    transfer,
)
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
        from llmesh.agent.testing import protocol_from_env  # the harness's version-skew hook

        return MeshClient.connect(self.coordinator, self.env, self.timeout, protocol_from_env(self.env))


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


def _attach(group: click.Group, *commands: click.Command | tuple[str, click.Command]) -> click.Group:
    """Add commands to a group; a (name, command) pair adds a command under a second name."""
    for entry in commands:
        name, command = entry if isinstance(entry, tuple) else (None, entry)
        group.add_command(command, name)
    return group


def _build(root: click.Group) -> click.Group:
    """Every meshctl command, in one place: the groups' modules only define them."""
    return _attach(
        root,
        serve.up,
        _attach(serve.coordinator, serve.serve, install.coordinator_install, install.coordinator_status,
                install.coordinator_uninstall, install.coordinator_logs),
        _attach(serve.agent, serve.run, serve.join, serve.request, install.agent_install, install.agent_status,
                install.agent_uninstall, install.agent_logs),
        _attach(hosts.hosts, hosts.remove),
        hosts.gpus,
        hosts.rescan,
        scrub.scrub,
        _attach(
            models.models,
            models.list_models, models.info, models.register, models.delete,
            catalog.versions, catalog.edit, catalog.deprecate, catalog.archive, catalog.restore, catalog.set_state,
            _attach(catalog.alias, catalog.alias_set, catalog.alias_rm, catalog.alias_history),
            catalog.rollback, gates.promote, catalog.tree, catalog.lineage, catalog.adapters, catalog.score, catalog.compare,
            catalog.resolve, recommend.recommend_command, catalog.search, catalog.verify, catalog.summary,
            transfer.pull, ("copy", transfer.pull), transfer.rm, transfer.push,
            serving.convert, serving.deploy, serving.undeploy, serving.test, serving.swap,
        ),
        _attach(transfer.jobs, transfer.show, transfer.cancel, transfer.watch),
        _attach(serving.deployments, serving.rollback),
        _attach(gates.gate, gates.gate_set, gates.gate_list, gates.gate_rm),
        _attach(gates.env, gates.env_list, gates.env_add, gates.env_rm),
        registry.events,
        _attach(registry.registry, registry.import_file, registry.export_file),
        _attach(bundles.adapters, bundles.bundle),
        _attach(admin.token, admin.token_create),
        _attach(admin.user, admin.user_add, admin.user_list, admin.user_rm),
        admin.audit,
        _attach(hooks.hooks, hooks.hooks_add, hooks.hooks_list, hooks.hooks_rm, hooks.hooks_log),
        admin.login,
        admin.whoami,
        dashboard.dashboard,
        _attach(hubs.hub, hubs.login),
    )


_build(cli)


def main() -> None:
    sys.exit(run(sys.argv[1:]))


def run(args: list[str]) -> int:
    """meshctl with ``args``; the exit status. Click's own errors (a bad option value, a
    missing argument) become one ``error:`` line naming the command, not a usage block."""
    try:
        result = cli.main(args, prog_name="meshctl", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `meshctl models`: the group's help
        click.echo(exc.format_message(), err=True)
        return exc.exit_code
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "meshctl"
        click.echo(f"error: {where}: {exc.format_message()} (see {where} --help)", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:  # `meshctl … | head`: the reader left; nothing to say
        sys.stderr = open(os.devnull, "w")  # so interpreter shutdown does not complain either
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
