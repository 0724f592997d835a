"""`meshctl models promote` and `meshctl gate set|list|rm`: environments (aliases) with quality gates."""
from __future__ import annotations

import click

from llmesh.cli import render


def _promoted(c: dict) -> None:
    frm = f"v{c['from_version']}" if c.get("from_version") else "-"
    click.echo(f"promoted {c['name']}@{c['alias']}: {frm} -> v{c['to_version']}")


@click.command("promote")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--to", "to", required=True, metavar="ENV", help="The environment (alias) to move, e.g. production.")
@click.option("--from", "from_alias", default="", metavar="ENV", help="Promote what this alias points to (give NAME).")
@click.option("--gate", "gates", multiple=True, metavar="CHECK",
              help="A check the version must pass, in the search language, e.g. 'metric.accuracy >= 0.8' "
                   "(repeatable; the environment's own gate always applies).")
@click.option("--reason", default="", help="Why (kept in the alias history).")
@render.output(_promoted)
@click.pass_obj
def promote(obj, ref, to, from_alias, gates, reason):
    """Move an environment's alias to a version only if it passes every gate (refused: each failing
    check with the version's value). Deployments that follow the alias are redeployed."""
    with obj.client() as mesh:
        return mesh.promote(ref, to, from_alias, gates, reason)


@click.group("gate")
def gate():
    """Quality gates of environments (aliases): checks a version must pass to be promoted there."""


@click.command("set")
@click.argument("environment")
@click.argument("expression")
@render.output(lambda g: click.echo(f"gate {g['environment']}: {g['expression']}"))
@click.pass_obj
def gate_set(obj, environment, expression):
    """Set ENVIRONMENT's gate, e.g. "metric.accuracy >= 0.85 AND metric.latency_ms < 200"."""
    with obj.client() as mesh:
        return mesh.set_gate(environment, expression)


def _show_gates(rows: list[dict], what: str = "gates") -> None:
    """Environments and their gates: `gate list` (those with one) and `env list` (all)."""
    if render.say_if_empty(rows, what):
        return
    t = render.table("ENVIRONMENT", "GATE", "BY", "SINCE")
    for g in rows:
        t.add_row(g["environment"], g["expression"] or "-", g["updated_by"] or "-", render.when(g["updated_at"]))
    render.print_table(t)


@click.command("list")
@render.output(_show_gates)
@click.pass_obj
def gate_list(obj):
    """Every environment's gate."""
    with obj.client() as mesh:
        return mesh.gates()


@click.command("rm")
@click.argument("environment")
@render.output(lambda g: click.echo(f"gate {g['environment']} removed"))
@click.pass_obj
def gate_rm(obj, environment):
    """Remove ENVIRONMENT's gate (promotions there are no longer checked)."""
    with obj.client() as mesh:
        return mesh.remove_gate(environment)


@click.group("env")
def env():
    """Environments a version is promoted through (development, staging, production by default)."""


@click.command("list")
@render.output(lambda rows: _show_gates(rows, "environments"))
@click.pass_obj
def env_list(obj):
    """Every environment, in promotion order, with its gate."""
    with obj.client() as mesh:
        return mesh.environments()


@click.command("add")
@click.argument("environment")
@render.output(lambda g: click.echo(f"environment {g['environment']} added"))
@click.pass_obj
def env_add(obj, environment):
    """Add an environment (an alias that `models promote --to` may move; give it a gate with `gate set`)."""
    with obj.client() as mesh:
        return mesh.add_environment(environment)


@click.command("rm")
@click.argument("environment")
@render.output(lambda g: click.echo(f"environment {g['environment']} removed"))
@click.pass_obj
def env_rm(obj, environment):
    """Remove an environment and its gate (its aliases stay where they point)."""
    with obj.client() as mesh:
        return mesh.remove_environment(environment)
