"""Output for people (rich) and for programs (--json): the `output` decorator every
command that answers with data uses, and the small formatters its renderers share."""
from __future__ import annotations

import functools
import inspect
import json
import sys
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from llmesh.common.units import human_size

# Piped output is for grep and scripts: do not wrap tables at 80 columns there.
console = Console(width=None if sys.stdout.isatty() else 200)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def output(human: Callable[..., None], *, to_json: Callable[[Any], Any] | None = None,
           check: Callable[..., None] | None = None, json_help: str = "Print JSON."):
    """Give a command `--json`. The command returns its result and prints nothing itself;
    this prints the result as JSON (through ``to_json`` where the JSON form differs) or for
    people through ``human``. Then ``check`` may raise for a result that is a failure (a
    failed job, a drifted locked version), after the output. ``human`` and ``check`` get
    the result and those of the command's parameters they name. A result of None prints
    nothing (a group whose subcommand runs); an iterator is a stream, printed as it comes
    (with --json, one object per line)."""
    human_wants, check_wants = _named_parameters(human), _named_parameters(check)

    def decorate(command):
        @click.option("--json", "as_json", is_flag=True, help=json_help)
        @functools.wraps(command)
        def run(*args, as_json: bool, **params):
            result = command(*args, **params)
            if result is None:
                return
            try:
                if not as_json:
                    human(result, **{k: params[k] for k in human_wants})
                elif isinstance(result, Iterator):
                    for item in result:
                        click.echo(json.dumps(to_json(item) if to_json else item, sort_keys=True, default=str))
                else:
                    emit_json(to_json(result) if to_json else result)
            finally:
                if isinstance(result, Generator):  # a stream holds its connection until closed
                    result.close()
            if check is not None:
                check(result, **{k: params[k] for k in check_wants})
        return run
    return decorate


def json_requested() -> bool:
    """Whether the running command prints JSON (for one that shows progress while it works)."""
    return bool(click.get_current_context().params.get("as_json"))


def _named_parameters(fn: Callable | None) -> list[str]:
    """The parameters of a renderer after the result."""
    return [] if fn is None else list(inspect.signature(fn).parameters)[1:]


def size(n: int | None) -> str:
    return "-" if n is None else human_size(n)


def ago(ts: float | None) -> str:
    if not ts:
        return "never"
    delta = max(0.0, time.time() - ts)
    if delta < 60:
        return f"{delta:.0f}s ago"
    if delta < 3600:
        return f"{delta / 60:.0f}m ago"
    if delta < 86400:
        return f"{delta / 3600:.1f}h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def status(text: str) -> str:
    colour = {"online": "green", "verified": "green", "offline": "red", "missing": "red"}.get(text, "yellow")
    return f"[{colour}]{text}[/{colour}]"


def table(*columns: str, title: str | None = None) -> Table:
    t = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def print_table(t: Table) -> None:
    console.print(t)


def short_digest(digest: str) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "-"


def say_if_empty(rows, what: str) -> bool:
    if not rows:
        console.print(f"no {what}")
        return True
    return False
