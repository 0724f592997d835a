"""`meshctl models recommend`: the best version for a role that fits a host, each candidate
explained in one line.

Candidates are the registered, ready, active (or draft-free) versions with the role; LoRA
adapters are left to their base. A candidate must pass every `--min metric.X=N`, need no more
than `--max-memory`, and with `--on` fit the host's free memory: its free RAM or its largest
GPU's free VRAM, as the host last reported them. The need is the serving estimate `deploy
--on auto` uses (size × 1.2 + 256 MiB of the files as stored: for a safetensors model, which
deploy quantizes first, an upper bound). The best is the one with the highest ranking metric
(`--by`, default the first `--min`, else the metric the most candidates have; lower is better
for latency, loss, perplexity and memory), newest first on ties.
"""
from __future__ import annotations

import click

from llmesh.cli import render
from llmesh.common.errors import FailedPrecondition, InvalidArgument, NotFound
from llmesh.common.units import human_size, parse_size

OVERHEAD = 256 * 2 ** 20
LOWER_IS_BETTER = ("latency", "loss", "perplexity", "memory", "_ms", "_s", "error")


def need_bytes(version: dict) -> int:
    return int(version["size_bytes"] * 1.2) + OVERHEAD


def host_room(host: dict) -> tuple[int, str]:
    """The most a model may take on HOST: free RAM or the largest GPU's free VRAM, and where."""
    hw = host.get("hardware") or {}
    best = (int(hw.get("memory_available_bytes") or 0), "RAM")
    for g in hw.get("gpus") or []:
        total, used = g.get("memory_total_bytes"), g.get("memory_used_bytes")
        if total is not None and total - (used or 0) > best[0]:
            best = (total - (used or 0), f"GPU{g.get('index', 0)} {g.get('name', '')}".rstrip())
    return best


def parse_mins(mins: tuple[str, ...]) -> list[tuple[str, float]]:
    out = []
    for text in mins:
        key, sep, value = text.partition("=")
        name = key.strip().removeprefix("metric.")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not key.strip().startswith("metric.") or not name or number is None:
            raise InvalidArgument(f"--min {text!r}: expected metric.NAME=NUMBER, e.g. metric.accuracy=0.85")
        out.append((name, number))
    return out


def lower_is_better(metric: str) -> bool:
    return any(part in metric for part in LOWER_IS_BETTER)


def rank_metric(by: str, mins: list[tuple[str, float]], candidates: list[dict]) -> str:
    if by:
        return by.removeprefix("metric.")
    if mins:
        return mins[0][0]
    counts: dict[str, int] = {}
    for v in candidates:
        for k in v["metrics"]:
            counts[k] = counts.get(k, 0) + 1
    return min(counts, key=lambda k: (-counts[k], k)) if counts else ""


def recommend(versions: list[dict], hosts: list[dict], role: str, mins: list[tuple[str, float]],
              max_memory: int, on: str, by: str) -> dict:
    candidates = [v for v in versions if v.get("registered") and v["kind"] != "lora"
                  and v.get("status", "ready") == "ready" and v.get("state", "active") in ("active", "")]
    if not candidates:
        raise NotFound(f"no active, ready version has the role {role!r} (adapters are served on their base)")
    online = [h for h in hosts if h["status"] == "online"]
    if on and on != "auto":
        host = next((h for h in hosts if h["name"] == on), None)
        if host is None:
            raise NotFound(f"no host {on!r} in the mesh")
        if host["status"] != "online":
            raise FailedPrecondition(f"{on} is {host['status']}: its free memory is not known now")
        online = [host]
    metric = rank_metric(by, mins, candidates)
    rows = [_judge(v, mins, max_memory, online if on else None, metric) for v in candidates]
    sign = 1 if lower_is_better(metric) else -1

    def order(row):
        value = row["metrics"].get(metric)
        return (not row["fits"], value is None, sign * value if value is not None else 0, -row["created_at"])
    rows.sort(key=order)
    best = rows[0] if rows[0]["fits"] else None
    return {"role": role, "metric": metric, "lower_is_better": sign == 1,
            "recommended": best["ref"] if best else None, "host": best["host"] if best else "",
            "candidates": rows}


def _judge(v: dict, mins, max_memory: int, hosts: list[dict] | None, metric: str) -> dict:
    ref, need = f"{v['name']}:{v['version']}", need_bytes(v)
    row = {"ref": ref, "metrics": v["metrics"], "need_bytes": need, "size_bytes": v["size_bytes"], "host": "",
           "fits": False, "created_at": v.get("created_at") or 0}
    for name, least in mins:
        value = v["metrics"].get(name)
        if value is None:
            return dict(row, reason=f"metric.{name} missing (--min {least:g})")
        if value < least:
            return dict(row, reason=f"metric.{name} {value:g} < {least:g} (--min)")
    if max_memory and need > max_memory:
        return dict(row, reason=f"needs {human_size(need)} > --max-memory {human_size(max_memory)}")
    shown = f"{metric}={v['metrics'][metric]:g}" if metric in v["metrics"] else f"no {metric}" if metric else ""
    if hosts is None:
        return dict(row, fits=True, reason=f"{shown}, needs {human_size(need)}".lstrip(", "))
    rooms = sorted(((host_room(h), h["name"]) for h in hosts), key=lambda r: -r[0][0])
    for (room, where), name in rooms:
        if room >= need:
            return dict(row, fits=True, host=name,
                        reason=f"{shown}, needs {human_size(need)}, fits {name} ({where} {human_size(room)} free)"
                        .lstrip(", "))
    (room, where), name = rooms[0] if rooms else ((0, "RAM"), "no online host")
    return dict(row, reason=f"needs {human_size(need)}; {name} has {human_size(room)} free ({where})")


def show(result: dict) -> None:
    direction = "lower" if result["lower_is_better"] else "higher"
    click.echo(f"role {result['role']}: ranked by metric.{result['metric'] or '-'} ({direction} is better)")
    for row in result["candidates"]:
        mark = "*" if row["ref"] == result["recommended"] else ("ok" if row["fits"] else "no")
        click.echo(f"  {mark:>2} {row['ref']}  {row['reason']}")
    if result["recommended"]:
        click.echo(f"recommended: {result['recommended']}" + (f" on {result['host']}" if result["host"] else ""))


def none_fits(result: dict) -> None:
    if not result["recommended"]:
        raise FailedPrecondition(f"no version with the role {result['role']} passes every check (see above)")


@click.command("recommend")
@click.option("--role", required=True, help="The role to fill.")
@click.option("--min", "mins", multiple=True, metavar="metric.NAME=N",
              help="The version's metric must be at least N (repeatable).")
@click.option("--max-memory", default="", metavar="SIZE", help="The most it may need to serve, e.g. 16GB.")
@click.option("--on", default="", metavar="HOST|auto",
              help="It must fit this host's free RAM or GPU memory (auto: any online host).")
@click.option("--by", default="", metavar="metric.NAME", help="Rank by this metric (default: the first --min).")
@render.output(show, check=none_fits)
@click.pass_obj
def recommend_command(obj, role, mins, max_memory, on, by):
    """The best version for ROLE by its metrics that fits: one line per candidate says why it is
    or is not chosen. Exits 1 when none passes."""
    limits = parse_mins(mins)
    max_bytes = parse_size(max_memory, "--max-memory") if max_memory else 0
    with obj.client() as mesh:
        versions = mesh.list_models(role=role)
        hosts = mesh.hosts() if on else []
    return recommend(versions, hosts, role, limits, max_bytes, on, by)
