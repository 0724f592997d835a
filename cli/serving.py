"""`meshctl models convert|deploy|undeploy|test` and `meshctl deployments [rollback]`."""
from __future__ import annotations

import sys

import click

from llmesh.cli import render
from llmesh.cli.transfer import wait_for_job
from llmesh.common.errors import FailedPrecondition

QUANT_HELP = "F16 (default), BF16, F32, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, …"


def show_conversion(job: dict, ref: str, quant: str) -> None:
    if job["state"] == "done":
        click.echo(f"{ref} converted to GGUF {quant.upper()} on {job['destination']}: {job['copy_path']}")
    else:
        click.echo(f"job {job['id']} {job['state']}; follow it with `meshctl jobs watch {job['id']}`")


def fail_if_conversion_failed(job: dict) -> None:
    if job["state"] in ("failed", "cancelled"):
        raise FailedPrecondition(f"conversion {job['id']} {job['state']}: {job['error']}")


@click.command("convert")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["gguf"]))
@click.option("--quant", default="F16", show_default=True, help=QUANT_HELP)
@click.option("--on", default="", help="The host to convert on (default: one that holds the version).")
@click.option("--wait/--detach", default=None, help="Follow the job (default on a terminal) or return at once.")
@render.output(show_conversion, check=fail_if_conversion_failed, json_help="Print the job as JSON.")
@click.pass_obj
def convert(obj, ref, fmt, quant, on, wait):
    """Convert a version to GGUF where it is; the result is a new version linked to its source."""
    wait = sys.stdout.isatty() if wait is None else wait
    with obj.client() as mesh:
        job = mesh.convert(ref, fmt, quant, on)
        return wait_for_job(mesh, job, quietly=render.json_requested()) if wait else job


@click.command("deploy")
@click.argument("ref", metavar="NAME[:VERSION|@ALIAS]")
@click.argument("backend", type=click.Choice(["llamacpp", "ollama", "halext"]))
@click.option("--on", required=True, help="The host to serve on, or `auto`.")
@click.option("--name", "served_name", default="", help="The name the backend serves it under.")
@click.option("--port", type=int, default=0,
              help="llama.cpp server port (default: a free one; a redeploy under the same name keeps its port).")
@click.option("--adapter", default="", metavar="NAME:VER", help="A LoRA adapter to load with the model.")
@click.option("--quant", default="", help=f"Quantization when it must be converted first (default Q4_K_M): {QUANT_HELP}")
@render.output(lambda d: click.echo(f"{d['ref']} is served by {d['backend']} on {d['host']} as "
                                    f"{d['served_name']!r} at {d['endpoint']}{how(d)}"))
@click.pass_obj
def deploy(obj, ref, backend, on, served_name, port, adapter, quant):
    """Serve a version on a host (converting and pulling it there first when needed).

    NAME@ALIAS binds the deployment to the alias: when the alias moves (models alias, promote,
    rollback --alias) it is redeployed to the new version under the same name and port.
    Deploying again under a served name replaces that deployment on its port. On llama.cpp a
    deployment with an adapter joins the running server of its base on that host (one process,
    one port, each adapter under its own name) unless --port names another port."""
    with obj.client() as mesh:
        return mesh.deploy(ref, backend, on, served_name, port, adapter, quant)


@click.command("undeploy")
@click.argument("ref", metavar="NAME|SERVED_NAME")
@click.option("--on", default="", help="Only on this host.")
@render.output(lambda d: click.echo(f"{d['ref']} no longer served on {d['host']}"))
@click.pass_obj
def undeploy(obj, ref, on):
    """Stop serving: by served name, or the model/version deployed (the server process is stopped)."""
    with obj.client() as mesh:
        return mesh.undeploy(ref, on)


@click.command("swap")
@click.argument("deployment", metavar="DEPLOYMENT")
@click.argument("adapter", metavar="ADAPTER[:VERSION]")
@click.option("--on", default="", help="The host, when DEPLOYMENT is served on several.")
@render.output(lambda d: click.echo(f"{d['served_name']!r} on {d['host']} now serves {d['ref']} with {d['adapter']} "
                                    f"at {d['endpoint']}{how(d)}"))
@click.pass_obj
def swap(obj, deployment, adapter, on):
    """Serve a running deployment (id, served name or model) with another LoRA adapter, on the same
    name and port; an adapter trained on another base is refused before anything stops.

    On llama.cpp the adapter changes on the running server (same process, no restart); on Ollama
    (FROM + ADAPTER is a model) it is a clean restart. The output (--json: "how") says which."""
    with obj.client() as mesh:
        return mesh.swap_adapter(deployment, adapter, on)


HOW = {"joined": "joined the running server of its base", "in place": "adapter changed in place, no restart",
       "restarted": "clean restart", "started": "new server"}


def how(d: dict) -> str:
    """What happened to the server process, e.g. ' (joined the running server of its base, pid 4242)'."""
    said = HOW.get(d.get("how") or "", d.get("how") or "")
    pid = f"pid {d['pid']}" if d.get("pid") else ""
    return f" ({', '.join(p for p in (said, pid) if p)})" if said or pid else ""


def show_test(r: dict) -> None:
    click.echo(("✓ Test passed" if r["passed"] else "✗ Test failed") + f" ({r['ref']} on {r['host']})")
    click.echo(f"\nPrompt: {r['prompt']}\n\nResponse:\n{r['text']}\n")
    click.echo(f"time to first token {r['ttft_s'] * 1000:.0f} ms, {r['tokens_per_s']:.1f} tokens/s, "
               f"{r['tokens']} tokens")


def fail_if_test_failed(r: dict) -> None:
    if not r["passed"]:
        raise FailedPrecondition(f"{r['ref']} did not answer the prompt")


@click.command("test")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--on", default="", help="The host whose deployment to test.")
@click.option("--prompt", default="", help="The prompt to send.")
@click.option("--max-tokens", type=int, default=32, show_default=True)
@click.option("--ignore-eos", is_flag=True, help="Generate all --max-tokens (a fair tokens/s figure).")
@render.output(show_test, check=fail_if_test_failed)
@click.pass_obj
def test(obj, ref, on, prompt, max_tokens, ignore_eos):
    """Send a prompt to the deployed endpoint; records time to first token, tokens/s, pass/fail."""
    with obj.client() as mesh:
        return mesh.test_model(ref, on, prompt, max_tokens, ignore_eos)


def show_deployments(rows: list[dict]) -> None:
    if render.say_if_empty(rows, "deployments"):
        return
    t = render.table("ID", "VERSION", "FOLLOWS", "HOST", "BACKEND", "NAME", "ENDPOINT", "STATE", "ADAPTER", "SINCE")
    for d in rows:
        follows = f"{d['source'].rpartition(':')[0]}@{d['alias']}" if d.get("alias") else ""
        state = d["state"] + (f" ({d['error']})" if d.get("error") else "")
        t.add_row(d["id"], d["ref"], follows, d["host"], d["backend"], d["served_name"], d["endpoint"], state,
                  d["adapter"], render.when(d["created_at"]))
    render.print_table(t)


@click.group(invoke_without_command=True)
@click.option("--all", "include_stopped", is_flag=True, help="Stopped deployments too.")
@render.output(show_deployments)
@click.pass_context
def deployments(ctx, include_stopped):
    """What is served where."""
    if ctx.invoked_subcommand is not None:
        return None
    with ctx.obj.client() as mesh:
        return mesh.deployments(include_stopped)


@click.command("rollback")
@click.argument("name")
@click.option("--on", required=True, help="The host whose deployment of NAME to roll back.")
@render.output(lambda d, on: click.echo(f"{d['ref']} serves {d['served_name']!r} on {on} again at {d['endpoint']}"))
@click.pass_obj
def rollback(obj, name, on):
    """Serve again, on a host, the version that served as NAME there before the current one."""
    with obj.client() as mesh:
        return mesh.rollback_deployment(name, on)
