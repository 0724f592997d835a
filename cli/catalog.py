"""`meshctl models …` for the catalog: versions, lifecycle, aliases, lineage, metrics,
roles, search, locks and reports (`events` and `registry`: cli/registry.py)."""
from __future__ import annotations

import click

from llmesh.cli import render
from llmesh.cli.catalog_options import catalog_facts, catalog_options, parse_numbers, parse_tags
from llmesh.common.errors import FailedPrecondition


def _ref(v: dict) -> str:
    return f"{v['name']}:{v['version']}"


def _metrics(v: dict) -> str:
    return " ".join(f"{k}={val:g}" for k, val in list(v["metrics"].items())[:4])


def _version_line(prefix: str):
    """A renderer: `edited NAME:VER (state …, status …)`."""
    def show(v: dict) -> None:
        click.echo(f"{prefix} {_ref(v)} (state {v['state']}, status {v['status']})")
    return show


# -- versions, edit, lifecycle ---------------------------------------------------------------

def versions_table(rows):
    t = render.table("VERSION", "SEMVER", "KIND", "STATE", "STATUS", "ALIASES", "METRICS", "CREATED")
    for v in rows:
        number = f"v{v['version']}" + (f" ({v['label']})" if v.get("label") else "")
        t.add_row(number, v["semver"], v["kind"], v["state"], v["status"], ", ".join(v["aliases"]),
                  _metrics(v), render.when(v["created_at"]))
    return t


@click.command("versions")
@click.argument("name")
@render.output(lambda rows: render.print_table(versions_table(rows)))
@click.pass_obj
def versions(obj, name):
    """Every version of one model: number, semver, state, status, aliases, metrics."""
    with obj.client() as mesh:
        return mesh.versions(name)


@click.command("edit")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--role", "roles", multiple=True, help="Add a role (repeatable).")
@click.option("--remove-role", "remove_roles", multiple=True, help="Remove a role (repeatable).")
@click.option("--remove-capability", "remove_capabilities", multiple=True, help="Remove a capability.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Set a tag (repeatable).")
@click.option("--remove-tag", "remove_tags", multiple=True, help="Remove a tag (repeatable).")
@click.option("--remove-backend", "remove_backends", multiple=True, help="Remove a backend.")
@click.option("--base", "base_model", default=None, help="Base model.")
@click.option("--notes", default=None, help="Free text.")
@click.option("--display-name", default=None, help="A human title for the model.")
@catalog_options
@render.output(_version_line("edited"))
@click.pass_obj
def edit(obj, ref, roles, remove_roles, remove_capabilities, tags, remove_tags, remove_backends, base_model,
         notes, display_name, semver, capabilities, parents, relation, datasets, framework, hardware, duration,
         cost, commit, params, metrics, backends, description):
    """Change what the registry says about a version (roles, capabilities, lineage, …)."""
    facts = catalog_facts(None, capabilities, parents, relation, datasets, framework, hardware, duration, cost,
                          commit, params, metrics, (), description)
    if semver is not None:
        facts["semver"] = semver
    facts.update({k: v for k, v in {
        "add_roles": list(roles), "remove_roles": list(remove_roles),
        "remove_capabilities": list(remove_capabilities), "tags": parse_tags(tags),
        "remove_tags": list(remove_tags), "add_backends": list(backends), "remove_backends": list(remove_backends),
        "base_model": base_model, "notes": notes, "display_name": display_name}.items() if v not in (None, [], {})})
    metrics_given = facts.pop("metrics", None)
    with obj.client() as mesh:
        v = mesh.edit(ref, **facts)
        if metrics_given:
            v = mesh.score(_ref(v), metrics_given)
    return v


def _state_command(name: str, state: str, summary: str) -> click.Command:
    @click.command(name, help=summary)
    @click.argument("ref", metavar="NAME[:VERSION]")
    @click.option("--reason", default="", help="Why (kept in the history).")
    @render.output(_version_line(f"{name}d"))  # deprecated, archived, restored
    @click.pass_obj
    def command(obj, ref, reason):
        with obj.client() as mesh:
            return mesh.set_state(ref, state, reason)
    return command


deprecate = _state_command("deprecate", "deprecated", "Mark a version deprecated (still usable, not chosen by default).")
archive = _state_command("archive", "archived", "Archive a version (kept for the record; aliases cannot point to it).")
restore = _state_command("restore", "active", "Make a deprecated or archived version active again.")


@click.command("state")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("state", type=click.Choice(["draft", "training", "active", "deprecated", "archived"]))
@click.option("--reason", default="", help="Why (kept in the history).")
@render.output(_version_line("moved"))
@click.pass_obj
def set_state(obj, ref, state, reason):
    """Move a version to any lifecycle state the transitions allow."""
    with obj.client() as mesh:
        return mesh.set_state(ref, state, reason)


# -- aliases and rollback -------------------------------------------------------------------------

@click.group("alias")
def alias():
    """Aliases (prod, staging, champion, …): set, rm, history."""


def _change_line(c: dict) -> str:
    frm = f"v{c['from_version']}" if c.get("from_version") else "-"
    to = f"v{c['to_version']}" if c.get("to_version") else "-"
    return f"{c['name']}@{c['alias']}: {frm} -> {to} ({c['action']}{', protected' if c['protected'] else ''})"


def show_change(change: dict) -> None:
    click.echo(_change_line(change))


@click.command("set")
@click.argument("ref", metavar="NAME:VERSION")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", default="", help="Why (kept in the history).")
@click.option("--protect", is_flag=True, help="Only admins may move or remove it afterwards.")
@render.output(show_change)
@click.pass_obj
def alias_set(obj, ref, alias_name, reason, protect):
    """Point ALIAS of a model at one of its versions."""
    with obj.client() as mesh:
        return mesh.set_alias(ref, alias_name, reason, protect)


@click.command("rm")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", default="", help="Why (kept in the history).")
@render.output(show_change)
@click.pass_obj
def alias_rm(obj, name, alias_name, reason):
    """Remove an alias of a model."""
    with obj.client() as mesh:
        return mesh.remove_alias(name, alias_name, reason)


def show_alias_history(rows: list[dict], name: str) -> None:
    if render.say_if_empty(rows, f"alias changes for {name}"):
        return
    t = render.table("WHEN", "ALIAS", "FROM", "TO", "ACTION", "BY", "REASON")
    for c in rows:
        t.add_row(render.when(c["at"]), c["alias"], f"v{c['from_version']}" if c["from_version"] else "-",
                  f"v{c['to_version']}" if c["to_version"] else "-", c["action"], c["actor"], c["reason"])
    render.print_table(t)


@click.command("history")
@click.argument("name")
@click.option("--alias", "alias_name", default="", help="Only this alias.")
@render.output(show_alias_history)
@click.pass_obj
def alias_history(obj, name, alias_name):
    """Every move of a model's aliases: when, who, from which version to which, why."""
    with obj.client() as mesh:
        return mesh.alias_history(name, alias_name)


@click.command("rollback")
@click.argument("name")
@click.option("--alias", "alias_name", default="prod", show_default=True, help="The alias to move back.")
@click.option("--reason", default="", help="Why (kept in the history).")
@click.option("--deprecate", is_flag=True, help="Also deprecate the version rolled back from.")
@render.output(lambda change: click.echo("rolled back " + _change_line(change)))
@click.pass_obj
def rollback(obj, name, alias_name, reason, deprecate):
    """Move an alias back to the version it pointed to before (repeat to go further back).
    To serve again what a host served before: `meshctl deployments rollback`."""
    with obj.client() as mesh:
        return mesh.rollback(name, alias_name, reason, deprecate)


# -- lineage ----------------------------------------------------------------------------------------

def tree_lines(nodes, prefix: str = ""):
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        notes = [n for n in (node.get("label", ""), node["semver"], node["state"] if node["state"] != "active" else "",
                             node["relation"], "@" + ",@".join(node["aliases"]) if node["aliases"] else "") if n]
        notes += [f"{p['relation']} of {p['name']}:{p['version']}" for p in node["external_parents"]]
        notes += [f"-> {d['name']}:{d['version']} ({d['relation']})" for d in node["derived"]]
        branch = "└── " if last else "├── "
        yield f"{prefix}{branch}v{node['version']}" + (f" ({'; '.join(notes)})" if notes else "")
        yield from tree_lines(node["children"], prefix + ("    " if last else "│   "))


def show_tree(result: dict, name: str) -> None:
    click.echo(f"{name} version tree:")
    for line in tree_lines(result["roots"]):
        click.echo(line)


@click.command("tree")
@click.argument("name")
@render.output(show_tree)
@click.pass_obj
def tree(obj, name):
    """The version tree of a model (parents and children, as in the afs registry)."""
    with obj.client() as mesh:
        return mesh.tree(name)


def show_lineage(result: dict) -> None:
    click.echo(f"{result['ref']}" + (f" (base {result['base_model']})" if result["base_model"] else "")
               + (f" commit {result['code_commit']}" if result["code_commit"] else ""))
    click.echo("ancestors:" if result["ancestors"] else "ancestors: none")
    for a in result["ancestors"]:
        click.echo(f"  {'  ' * (a['depth'] - 1)}{a['name']}:{a['version']} ({a['relation']} parent of {a['child']})"
                   + (f" commit {a['code_commit']}" if a["code_commit"] else ""))
    click.echo("data lineage:")
    for version, sources in result["data_lineage"].items():
        names = ", ".join(d["name"] + ("@" + d["digest"] if d["digest"] else "") for d in sources)
        click.echo(f"  {version}: {names or '-'}")
    if result["children"]:
        click.echo("children: " + ", ".join(f"{c['name']}:{c['version']} ({c['relation']})" for c in result["children"]))


@click.command("lineage")
@click.argument("ref", metavar="NAME[:VERSION]")
@render.output(show_lineage)
@click.pass_obj
def lineage(obj, ref):
    """Ancestors of a version and its data lineage (datasets along the chain, code commits)."""
    with obj.client() as mesh:
        return mesh.lineage(ref)


def show_adapters(rows: list[dict], base: str) -> None:
    if render.say_if_empty(rows, f"adapters for {base}"):
        return
    t = render.table("ADAPTER", "BASE", "STATE", "R", "ALPHA", "TARGETS")
    for v in rows:
        lora = v["metadata"].get("lora") or {}
        targets = lora.get("target_modules") or []
        t.add_row(_ref(v), v["base_model"], v["state"], str(lora.get("r", "")), str(lora.get("alpha", "")),
                  ", ".join(targets) if isinstance(targets, list) else str(targets))
    render.print_table(t)


@click.command("adapters")
@click.argument("base")
@render.output(show_adapters)
@click.pass_obj
def adapters(obj, base):
    """LoRA adapters compatible with a base model (a registry NAME[:VER] or a base id)."""
    with obj.client() as mesh:
        return mesh.adapters(base)


# -- metrics ---------------------------------------------------------------------------------------

@click.command("score")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=NUMBER",
              help="accuracy, f1, perplexity, bleu, rouge1/rouge2/rougeL, tokens_per_second, latency_ms, "
                   "memory_mb, or any custom name (repeatable).")
@click.option("--remove", multiple=True, metavar="KEY", help="Remove a metric (repeatable).")
@render.output(lambda v: click.echo(f"scored {_ref(v)}: "
                                    + " ".join(f"{k}={val:g}" for k, val in v["metrics"].items())))
@click.pass_obj
def score(obj, ref, metrics, remove):
    """Record evaluation metrics of a version."""
    with obj.client() as mesh:
        return mesh.score(ref, parse_numbers(metrics), remove)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def show_comparison(result: dict, show_all: bool) -> None:
    t = render.table("SECTION", "KEY", result["a"], result["b"], "DELTA")
    for row in result["rows"]:
        if row["same"] and not show_all and row["section"] not in ("metrics",):
            continue
        delta = "" if row["delta"] is None else f"{row['delta']:+g}"
        t.add_row(row["section"], row["key"], _cell(row["a"]), _cell(row["b"]), delta)
    render.print_table(t)


@click.command("compare")
@click.argument("name")
@click.argument("a", metavar="V1")
@click.argument("b", metavar="V2")
@click.option("--all", "show_all", is_flag=True, help="Also rows that are the same.")
@render.output(show_comparison)
@click.pass_obj
def compare(obj, name, a, b, show_all):
    """Two versions side by side: metrics with deltas, training config, facts."""
    with obj.client() as mesh:
        return mesh.compare(name, a, b)


# -- roles, search -----------------------------------------------------------------------------------

@click.command("resolve")
@click.option("--role", required=True, help="The role to fill.")
@click.option("--capability", "capabilities", multiple=True, help="A capability it must have (repeatable).")
@click.option("--prefer", default="", help="A model to choose if it qualifies.")
@render.output(lambda result: click.echo(f"{_ref(result['version'])}  ({result['reason']})"))
@click.pass_obj
def resolve(obj, role, capabilities, prefer):
    """The version to use for a role: the preferred model if it qualifies, else the first active one."""
    with obj.client() as mesh:
        return mesh.resolve(role, capabilities, prefer)


def show_search(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "versions match"):
        return
    t = render.table("NAME", "VER", "KIND", "STATE", "ROLES", "ALIASES", "METRICS")
    for v in rows:
        t.add_row(v["name"], f"v{v['version']}", v["kind"], v["state"], ", ".join(v["roles"]),
                  ", ".join(v["aliases"]), _metrics(v))
    render.print_table(t)


@click.command("search")
@click.argument("query")
@click.option("--sort", default="", metavar="KEY[:desc]", help="name, version, created_at, metric.KEY, …")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="At most this many results (0: all).")
@render.output(show_search)
@click.pass_obj
def search(obj, query, sort, limit):
    """Search with the query language, e.g. "metric.accuracy > 0.85 AND (role = 'asm' OR kind = 'lora')".

    Fields: name, version, kind, state, status, semver, base_model, created_at, format, source,
    framework, hardware, size, registered, locked, host, backend, role, capability, alias, dataset,
    tag.KEY, metric.KEY, param.KEY, capability.KEY. Operators: = != < <= > >= IN LIKE IS [NOT] NULL,
    AND OR NOT and parentheses. Missing keys are NULL."""
    with obj.client() as mesh:
        return mesh.search(query, sort, limit)


# -- locks, reports ----------------------------------------------------------------------------------

def show_verification(report: dict) -> None:
    t = render.table("HOST", "PATH", "OUTCOME", "DIGEST")
    for c in report["copies"]:
        t.add_row(c["host"], c["path"], render.status("verified" if c["outcome"] == "ok" else c["outcome"]),
                  render.short_digest(c["digest"]) if c["digest"] else c["error"])
    render.print_table(t)
    click.echo(f"{report['ref']}: status {report['status']}" + (", locked" if report["locked"] else ""))


def fail_if_locked_and_drifted(report: dict) -> None:
    if report["drifted"] and report["locked"]:
        copies = ", ".join(f"{c['host']}:{c['path']}" for c in report["drifted"])
        raise FailedPrecondition(f"{report['ref']} is locked and drifted on {copies}")


@click.command("verify")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--lock", is_flag=True, help="Lock the version to its digest (drift is then an error).")
@click.option("--unlock", is_flag=True, help="Remove the lock.")
@render.output(show_verification, check=fail_if_locked_and_drifted)
@click.pass_obj
def verify(obj, ref, lock, unlock):
    """Ask every agent holding a copy to re-hash it; report drift. Exits 1 if a locked version drifted."""
    if lock and unlock:
        raise click.UsageError("--lock and --unlock exclude each other")
    with obj.client() as mesh:
        return mesh.verify(ref, lock, unlock)


def show_summary(result: dict, name: str) -> None:
    if name:
        click.echo(f"{result['name']}: {result['versions']} versions ("
                   + ", ".join(f"{n} {s}" for s, n in sorted(result["by_state"].items())) + ")")
        if result["aliases"]:
            click.echo("aliases: " + ", ".join(f"{a} -> v{v}" for a, v in sorted(result["aliases"].items())))
        for key, best in sorted(result["best"].items()):
            click.echo(f"best {key}: {best['value']:g} (v{best['version']})")
        render.print_table(versions_table([{**v, "name": name} for v in result["list"]]))
        return
    click.echo(f"{result['models']} models, {result['versions']} versions ({result['registered']} registered), "
               f"{result['hosts']} hosts, {render.size(result['total_bytes'])}")
    for key in ("by_kind", "by_state", "by_status", "copies"):
        click.echo(f"{key.replace('_', ' ')}: " + ", ".join(f"{k} {n}" for k, n in sorted(result[key].items())))
    click.echo(f"locked: {result['locked']}, aliases: {result['aliases']}")


@click.command("summary")
@click.argument("name", required=False, default="")
@render.output(show_summary)
@click.pass_obj
def summary(obj, name):
    """A summary of the registry, or of one model (versions, states, aliases, best metrics)."""
    with obj.client() as mesh:
        return mesh.summary(name)
