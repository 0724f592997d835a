"""`meshctl models …`: the group, and list, info, register, delete (the catalog's commands:
cli/catalog.py; moving: cli/transfer.py; converting and serving: cli/serving.py)."""
from __future__ import annotations

import click
from rich.panel import Panel
from rich.table import Table

from llmesh.cli import catalog_options as catalog
from llmesh.cli import render
from llmesh.cli.render import size, status


@click.group()
def models():
    """Models and versions: what exists, where, and what it is."""


def show_list(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "models found yet"):
        return
    t = render.table("NAME", "VER", "KIND", "FORMAT", "SIZE", "COPIES", "DIGEST")
    for v in rows:
        copies = "\n".join(f"{c['host']} {status(c['state']) if c['state'] != 'verified' else ''}".rstrip()
                           for c in v["copies"]) or "[red]none[/red]"
        t.add_row(v["name"], f"v{v['version']}", v["kind"], v["format"], size(v["size_bytes"]), copies,
                  render.short_digest(v["digest"]))
    render.print_table(t)


@click.command("list")
@click.option("--host", default="", help="Only versions with a copy on this host.")
@click.option("--kind", type=click.Choice(["model", "lora", "gguf"]), default=None, help="Only this kind.")
@click.option("--role", default="", help="Only versions with this role.")
@click.option("--backend", default="", help="Only versions running on this serving backend now (deployed).")
@click.option("--deployed-on", default="", metavar="BACKEND|HOST", help="Only versions running there now.")
@click.option("--can-serve", default="", metavar="BACKEND", help="Only versions set up for this serving backend.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Only versions with this tag (repeatable).")
@click.option("--query", default="", help="A search query (see `meshctl models search --help`).")
@render.output(show_list)
@click.pass_obj
def list_models(obj, host, kind, role, backend, deployed_on, can_serve, tags, query):
    """Every model version the mesh knows, found by agents or registered."""
    if backend and deployed_on:
        raise click.UsageError("give --backend or --deployed-on, not both")
    with obj.client() as mesh:
        return mesh.list_models(host=host, kind=kind or "", role=role, backend=can_serve, tags=tags, query=query,
                                deployed_on=backend or deployed_on)


def info_panel(v: dict):
    meta = v["metadata"]
    title = v["display_name"] or v["name"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows = [
        ("Model", v["name"]), ("Version", f"v{v['version']}" + (f" (label {v['label']})" if v.get("label") else "")), ("Kind", f"{v['kind']} ({v['format']}, {v['source']})"),
        ("Digest", v["digest"]), ("Size", f"{size(v['size_bytes'])} in {v['file_count']} files"),
        ("Base Model", v["base_model"] or meta.get("base_model") or ""),
        ("Architecture", meta.get("architecture", "")),
        ("Semver", v.get("semver", "")),
        ("State", f"{v['state']} (status {v['status']})" if v.get("state") else ""),
        ("Aliases", ", ".join(v.get("aliases", []))),
        ("Roles", ", ".join(v["roles"])),
        ("Capabilities", ", ".join(k if ok else f"{k}=false" for k, ok in v.get("capabilities", {}).items())),
        ("Parents", ", ".join(f"{p['name']}:{p['version']} ({p['relation']})" for p in v.get("parents", []))),
        ("Datasets", ", ".join(d["name"] + (f"@{d['digest']}" if d["digest"] else "") for d in v.get("datasets", []))),
        ("Framework", v.get("framework", "")), ("Hardware", v.get("hardware", "")),
        ("Duration", f"{v['duration_s'] / 60:.0f} min" if v.get("duration_s") is not None else ""),
        ("Cost", f"${v['cost_usd']:.2f}" if v.get("cost_usd") is not None else ""),
        ("Code Commit", v.get("code_commit", "")),
        ("Backends", ", ".join(v.get("backends", []))),
        ("Locked", "yes" + (f", verified {render.when(v['last_verified'])}" if v.get("last_verified") else "")
         if v.get("locked") else ""),
        ("Tags", ", ".join(k if val == "true" else f"{k}={val}" for k, val in v["tags"].items())),
        ("Registered", render.when(v["created_at"]) if v["registered"] else "no (found by an agent)"),
        ("Notes", v["notes"]),
    ]
    for key, value in rows:
        if value:
            grid.add_row(key, str(value))
    sections = [grid]
    for heading, lines in _sections(v):
        if lines:
            sections.append(f"\n[bold]{heading}:[/bold]")
            sections.extend(f"  {line}" for line in lines)
    body = Table.grid()
    for part in sections:
        body.add_row(part)
    return Panel(body, title=f"[bold]{title}[/bold]", title_align="left", expand=False)


def _sections(v: dict):
    meta = v["metadata"]
    training = meta.get("training") or {}
    lora = meta.get("lora") or {}
    gguf = meta.get("gguf") or {}
    config = meta.get("config") or {}
    yield "Training", [f"{k.replace('_', ' ').title()}  {training[k]}" for k in
                       ("final_loss", "best_loss", "final_eval_loss", "epochs", "global_step", "max_steps")
                       if training.get(k) is not None]
    yield "LoRA", [f"{k}  {lora[k]}" for k in ("r", "alpha", "dropout", "target_modules") if lora.get(k) is not None]
    yield "GGUF", [f"{k}  {gguf[k]}" for k in ("quantization", "context_length", "parameter_count", "type")
                   if gguf.get(k) is not None]
    yield "Config", [f"{k}  {config[k]}" for k in ("num_hidden_layers", "hidden_size", "vocab_size",
                                                    "torch_dtype") if config.get(k) is not None]
    yield "Metrics", [f"{k}  {val:g}" for k, val in v.get("metrics", {}).items()]
    yield "Training Config", [f"{k}  {val}" for k, val in v.get("params", {}).items()]
    yield "Deployed To", [f"• {d['host']} {d['backend']} as {d['served_name']!r} at {d['endpoint']}: {d['state']}"
                          + (f", serving {d['ref']}" if d["ref"] != f"{v['name']}:{v['version']}" else "")
                          + (f", follows @{d['alias']}" if d.get("alias") else "")
                          + f", since {render.when(d['created_at'])}" for d in v.get("deployed_to") or []]
    yield "Locations", [f"• {c['host']} ({status(c['state'])}): {c['path']}" for c in v["copies"]] or ["[red]none[/red]"]


def show_info(v: dict) -> None:
    render.console.print(info_panel(v))


@click.command("info")
@click.argument("ref", metavar="NAME[:VERSION]")
@render.output(show_info)
@click.pass_obj
def info(obj, ref):
    """Everything about one version (default: the latest)."""
    with obj.client() as mesh:
        return mesh.model(ref)


def show_registered(result: dict) -> None:
    v = result["version"]
    if v["status"] == "pending":
        click.echo(f"{result['message']}: {v['name']}:{v['version']} (state {v['state']}, no weights yet)")
        return
    click.echo(f"{result['message']}: {v['name']}:{v['version']} ({v['kind']}, {size(v['size_bytes'])}, "
               f"{v['digest']})")


@click.command("register")
@click.argument("path", required=False, default="")
@click.option("--host", default="", help="The host PATH is on (PATH in that host's own syntax).")
@click.option("--name", default="", help="Model name (default: from the path).")
@click.option("--base", "base_model", default="", help="Base model this was trained from.")
@click.option("--role", "roles", multiple=True, help="A role this model serves (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="A tag (repeatable).")
@click.option("--notes", default="", help="Free text.")
@click.option("--display-name", default="", help="A human title for the model.")
@click.option("--state", type=click.Choice(["draft", "training"]), default=None,
              help="Register a version before its weights exist (no PATH).")
@catalog.catalog_options
@render.output(show_registered)
@click.pass_obj
def register(obj, path, host, name, base_model, roles, tags, notes, display_name, state, semver, capabilities,
             parents, relation, datasets, framework, hardware, duration, cost, commit, params, metrics, backends,
             description):
    """Name and annotate the model at PATH on HOST (the agent reads and hashes it, and reads
    trainer_state.json, training_args.json, adapter_config.json, config.json and the git
    commit of a checkout holding PATH). Without PATH, --state draft|training records a
    version whose weights come later (the next registration of that name fills it)."""
    facts = catalog.catalog_facts(semver, capabilities, parents, relation, datasets, framework, hardware,
                                  duration, cost, commit, params, metrics, backends, description)
    with obj.client() as mesh:
        return mesh.register_version(path, host, name=name, base_model=base_model, roles=list(roles),
                                     tags=catalog.parse_tags(tags), notes=notes, display_name=display_name,
                                     state=state or "", **facts)


def show_deleted(result: dict) -> None:
    click.echo(f"deleted {', '.join(result['deleted'])} from the registry; files on hosts are untouched "
               "(register a path again to bring it back)")


@click.command("delete")
@click.argument("ref", metavar="NAME[:VERSION]")
@render.output(show_deleted)
@click.pass_obj
def delete(obj, ref):
    """Remove registry entries (all versions, or one). Files on hosts are untouched."""
    with obj.client() as mesh:
        return mesh.delete(ref)
