"""`meshctl models convert|deploy|undeploy|test` and `meshctl deployments`."""
from __future__ import annotations

import sys

import click

from llmesh.cli import render
from llmesh.cli.models import models
from llmesh.cli.transfer import wait_for_job
from llmesh.common.errors import FailedPrecondition

QUANT_HELP = "F16 (default), BF16, F32, Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, …"


@models.command("convert")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["gguf"]))
@click.option("--quant", default="F16", show_default=True, help=QUANT_HELP)
@click.option("--on", default="", help="The host to convert on (default: one that holds the version).")
@click.option("--wait/--detach", default=None, help="Follow the job (default on a terminal) or return at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.pass_obj
def convert(obj, ref, fmt, quant, on, wait, as_json):
    """Convert a version to GGUF where it is; the result is a new version linked to its source."""
    wait = sys.stdout.isatty() if wait is None else wait
    with obj.client() as mesh:
        job = mesh.convert(ref, fmt, quant, on)
        if wait:
            job = wait_for_job(mesh, job, quietly=as_json)
    if as_json:
        render.emit_json(job)
    elif job["state"] == "done":
        click.echo(f"{ref} converted to GGUF {quant.upper()} on {job['destination']}: {job['copy_path']}")
    else:
        click.echo(f"job {job['id']} {job['state']}; follow it with `meshctl jobs watch {job['id']}`")
    if job["state"] in ("failed", "cancelled"):
        raise FailedPrecondition(f"conversion {job['id']} {job['state']}: {job['error']}")


@models.command("deploy")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("backend", type=click.Choice(["llamacpp", "ollama", "halext"]))
@click.option("--on", required=True, help="The host to serve on, or `auto`.")
@click.option("--name", "served_name", default="", help="The name the backend serves it under.")
@click.option("--port", type=int, default=0, help="llama.cpp server port (default: a free one).")
@click.option("--adapter", default="", metavar="NAME:VER", help="A LoRA adapter to load with the model.")
@click.option("--quant", default="", help=f"Quantization when it must be converted first (default Q4_K_M): {QUANT_HELP}")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def deploy(obj, ref, backend, on, served_name, port, adapter, quant, as_json):
    """Serve a version on a host (converting and pulling it there first when needed)."""
    with obj.client() as mesh:
        d = mesh.deploy(ref, backend, on, served_name, port, adapter, quant)
    if as_json:
        render.emit_json(d)
    else:
        click.echo(f"{d['ref']} is served by {d['backend']} on {d['host']} as {d['served_name']!r} at {d['endpoint']}")


@models.command("undeploy")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--on", default="", help="Only on this host.")
@click.pass_obj
def undeploy(obj, ref, on):
    """Stop serving a version (the server process is stopped)."""
    with obj.client() as mesh:
        d = mesh.undeploy(ref, on)
    click.echo(f"{d['ref']} no longer served on {d['host']}")


@models.command("test")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--on", default="", help="The host whose deployment to test.")
@click.option("--prompt", default="", help="The prompt to send.")
@click.option("--max-tokens", type=int, default=32, show_default=True)
@click.option("--ignore-eos", is_flag=True, help="Generate all --max-tokens (a fair tokens/s figure).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def test(obj, ref, on, prompt, max_tokens, ignore_eos, as_json):
    """Send a prompt to the deployed endpoint; records time to first token, tokens/s, pass/fail."""
    with obj.client() as mesh:
        r = mesh.test_model(ref, on, prompt, max_tokens, ignore_eos)
    if as_json:
        render.emit_json(r)
        return
    click.echo(("✓ Test passed" if r["passed"] else "✗ Test failed") + f" ({r['ref']} on {r['host']})")
    click.echo(f"\nPrompt: {r['prompt']}\n\nResponse:\n{r['text']}\n")
    click.echo(f"time to first token {r['ttft_s'] * 1000:.0f} ms, {r['tokens_per_s']:.1f} tokens/s, "
               f"{r['tokens']} tokens")
    if not r["passed"]:
        raise FailedPrecondition(f"{r['ref']} did not answer the prompt")


@click.command()
@click.option("--all", "include_stopped", is_flag=True, help="Stopped deployments too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def deployments(obj, include_stopped, as_json):
    """What is served where."""
    with obj.client() as mesh:
        rows = mesh.deployments(include_stopped)
    if as_json:
        render.emit_json(rows)
        return
    if render.say_if_empty(rows, "deployments"):
        return
    t = render.table("ID", "VERSION", "HOST", "BACKEND", "NAME", "ENDPOINT", "STATE", "ADAPTER", "SINCE")
    for d in rows:
        t.add_row(d["id"], d["ref"], d["host"], d["backend"], d["served_name"], d["endpoint"], d["state"],
                  d["adapter"], render.when(d["created_at"]))
    render.print_table(t)
