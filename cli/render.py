"""Output for people (rich) and for programs (--json)."""
from __future__ import annotations

import json
import sys
import time

import click
from rich.console import Console
from rich.table import Table

from llmesh.common.units import human_size

# Piped output is for grep and scripts: do not wrap tables at 80 columns there.
console = Console(width=None if sys.stdout.isatty() else 200)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


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
