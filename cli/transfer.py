"""`meshctl models pull|copy|rm` and `meshctl jobs …`: moving versions between hosts."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import click

from llmesh.cli import render
from llmesh.common.errors import FailedPrecondition, Unimplemented
from llmesh.common.units import human_rate, parse_rate

FINISHED = ("done", "failed", "cancelled")
POLL_S = 0.3  # only for a coordinator from before WatchJobs


def job_updates(mesh, job_ids: list[str]) -> Iterator[dict]:
    """Each job now, then whenever it changes, until every one has finished: the coordinator
    streams them (WatchJobs); an older one is asked every POLL_S."""
    try:
        yield from mesh.watch_jobs(job_ids)
        return
    except Unimplemented:  # raised before any job came: nothing is shown twice
        pass
    pending = list(job_ids)
    while True:
        for job_id in list(pending):
            job = mesh.job(job_id)
            if job["state"] in FINISHED:
                pending.remove(job_id)
            yield job
        if not pending:
            return
        time.sleep(POLL_S)


def wait_for_jobs(mesh, job_ids: list[str]) -> list[dict]:
    """The jobs as they ended, silently."""
    last = {}
    for job in job_updates(mesh, job_ids):
        last[job["id"]] = job
    return [last[job_id] for job_id in job_ids]


def follow(mesh, job_ids: list[str]) -> list[dict]:
    """A progress bar per job (bytes, speed, ETA) until every job has finished."""
    # rich.progress costs meshctl's start-up ~20 ms: only a drawn bar needs it.
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[state]}")]
    jobs: dict[str, dict] = {}
    tasks: dict[str, int] = {}
    with Progress(*columns, console=render.console, transient=False) as progress:
        for job in job_updates(mesh, job_ids):
            jobs[job["id"]] = job
            state = job["state"] + (f" ({job['error']})" if job["error"] and job["state"] != "done" else "")
            description = f"{job['ref']} → {job['destination']}"  # a hub pull's ref becomes its version's
            if job["id"] not in tasks:
                tasks[job["id"]] = progress.add_task(description, total=job["bytes_total"] or None, state=state)
            progress.update(tasks[job["id"]], description=description, total=job["bytes_total"] or None,
                            completed=job["bytes_done"], state=state)
    return [jobs[job_id] for job_id in job_ids]


def show_job_done(job: dict) -> None:
    if job["state"] == "done":
        click.echo(f"{job['ref']} is on {job['destination']} at {job['copy_path']} "
                   f"({render.size(job['bytes_received'])} moved, {render.size(job['bytes_reused'])} already there)")


def fail_if_job_failed(job: dict) -> None:
    if job["state"] in ("failed", "cancelled"):
        raise FailedPrecondition(f"job {job['id']} {job['state']}: {job['error']}")


def _waits(wait: bool | None) -> bool:
    """--wait/--detach, by default: wait on a terminal."""
    return sys.stdout.isatty() if wait is None else wait


def show_pull(job, wait: bool | None) -> None:
    if isinstance(job, list):  # a fan-out: one job per destination
        for j in job:
            show_pull(j, wait)
        return
    if _waits(wait):
        show_job_done(job)
    else:
        click.echo(f"job {job['id']}: {job['ref']} → {job['destination']} ({job['state']}); "
                   f"follow it with `meshctl jobs watch {job['id']}`")


def fail_if_waited_and_failed(job, wait: bool | None) -> None:
    if _waits(wait):
        for j in job if isinstance(job, list) else [job]:
            fail_if_job_failed(j)


@click.command("pull")
@click.argument("ref", metavar="NAME[:VERSION] | REGISTRY/NS/MODEL[:TAG]")
@click.option("--to", "to", required=True, metavar="HOST|H1,H2,…|label=KEY[=VALUE]",
              help="The host that should get a copy; several (or every host with a label): a fan-out, "
                   "whose destinations trade verified pieces so the source sends each piece about once "
                   "(a hub ref is fetched from the hub once).")
@click.option("--from", "source", default="", help="Only pull from this host.")
@click.option("--dest", "dest_dir", default="", help="Also place the files in this folder (under a root of the host).")
@click.option("--registry", default="", metavar="HOST[:PORT]",
              help="Read a bare REF (mistral:7b) as an Ollama-style name on this registry.")
@click.option("--insecure", is_flag=True, help="The registry speaks plain HTTP (a registry on a LAN).")
@click.option("--ollama", "ollama_layout", is_flag=True,
              help="Also lay a registry model out in the host's Ollama store (OLLAMA_MODELS), so `ollama list` shows it.")
@click.option("--include", "include", multiple=True, metavar="GLOB",
              help="A Hugging Face pull: only files matching GLOB (repeatable), e.g. '*Q4_K_M.gguf'.")
@click.option("--limit", "limit", default="0", metavar="RATE",
              help="Most bytes/s this pull may receive, e.g. 50MB/s or 1GiB/s; 0: no limit.")
@click.option("--wait/--detach", default=None, help="Follow the job (default on a terminal) or return at once.")
@render.output(show_pull, check=fail_if_waited_and_failed,
               json_help="Print the job as JSON (when it ends, with --wait).")
@click.pass_obj
def pull(obj, ref, to, source, dest_dir, registry, insecure, ollama_layout, include, limit, wait):
    """Copy a version to a host (or fan it out to several), agent to agent, verified and resumable;
    or pull a model from an OCI/Ollama registry (REGISTRY/NS/MODEL:TAG, ollama.com/library/mistral:7b)
    or Hugging Face: the agent on the host downloads it, verified piece by piece, and it is
    registered with its source."""
    rate_limit = parse_rate(limit, "--limit")
    with obj.client() as mesh:
        job = mesh.pull(ref, to, source, dest_dir, rate_limit, registry=registry, insecure=insecure,
                        ollama_layout=ollama_layout, include=include)
        if not job.get("swarm"):
            return wait_for_job(mesh, job, quietly=render.json_requested()) if _waits(wait) else job
        jobs = [j for j in mesh.jobs(True) if j.get("swarm") == job["swarm"]]
        if not _waits(wait):
            return jobs
        ids = [j["id"] for j in jobs]
        return wait_for_jobs(mesh, ids) if render.json_requested() else follow(mesh, ids)


def wait_for_job(mesh, job: dict, quietly: bool) -> dict:
    """Until the job ends: silently (for --json), or with a progress bar."""
    if job["state"] in FINISHED:
        return job
    return (wait_for_jobs if quietly else follow)(mesh, [job["id"]])[0]


def show_push(result: dict) -> None:
    hf = result["to"].startswith("hf.co/")  # a Hub commit of files, not a manifest of blobs
    click.echo(f"pushed {result['version']} to {result['to']} from {result['host']}: "
               f"{'commit ' if hf else ''}{result['manifest_digest']} "
               f"({result['blobs_sent']} {'files' if hf else 'blobs'} sent, {render.size(result['bytes_sent'])}; "
               f"{result['blobs_skipped']} already there)")


@click.command("push")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("to", metavar="REGISTRY/NS/MODEL[:TAG]|hf.co/ORG/REPO[:BRANCH]")
@click.option("--from", "source", default="", help="The host that uploads (default: an online holder).")
@click.option("--insecure", is_flag=True, help="The registry speaks plain HTTP (a registry on a LAN).")
@render.output(show_push)
@click.pass_obj
def push(obj, ref, to, source, insecure):
    """Push a version to an OCI/Ollama registry from an agent that holds it: blobs the registry
    lacks, then the manifest (a GGUF as Ollama's model layer; the config carries the registry
    record). `meshctl models pull` of that ref brings it back. To a Hugging Face repo the agent
    uploads one commit through huggingface_hub with its own token (`meshctl hub login hf --host`)."""
    with obj.client() as mesh:
        return mesh.push(ref, to, source, insecure)


@click.command("rm")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--from", "host", required=True, help="The host whose copy to delete.")
@click.option("--force", is_flag=True, help="Delete even the last verified copy in the mesh.")
@render.output(lambda result: click.echo(f"{result['message']}: {', '.join(result['paths'])}"))
@click.pass_obj
def rm(obj, ref, host, force):
    """Delete a copy's files from a host (the registry entry stays while other copies exist)."""
    with obj.client() as mesh:
        return mesh.remove_copy(ref, host, force)


def show_jobs(rows: list[dict], include_finished: bool) -> None:
    if render.say_if_empty(rows, "jobs" if include_finished else "active jobs (see --all)"):
        return
    t = render.table("ID", "STATE", "VERSION", "TO", "FROM", "DONE", "MOVED", "ERROR")
    for j in rows:
        t.add_row(j["id"], j["state"], j["ref"], j["destination"], _sources(j),
                  f"{render.size(j['bytes_done'])} / {render.size(j['bytes_total'])}",
                  render.size(j["bytes_received"]), j["error"])
    render.print_table(t)


@click.group(invoke_without_command=True)
@click.option("--all", "include_finished", is_flag=True, help="Finished jobs too.")
@render.output(show_jobs)
@click.pass_context
def jobs(ctx, include_finished):
    """Transfer jobs: what is moving where."""
    if ctx.invoked_subcommand is not None:
        return None
    with ctx.obj.client() as mesh:
        return mesh.jobs(include_finished)


def _sources(job: dict) -> str:
    """Each source with the verified bytes/s it delivers now, while the job runs."""
    rates = {r["host"]: r["bytes_per_s"] for r in job.get("source_rates", [])}
    if job["state"] != "running":
        return ", ".join(job["sources"])
    hosts = list(job["sources"]) + [h for h in rates if h not in job["sources"]]  # swarm peers too
    return ", ".join(f"{h} {human_rate(rates.get(h, 0.0))}" for h in hosts)


def show_job(job: dict) -> None:
    for key in ("id", "state", "ref", "destination", "sources", "bytes_total", "bytes_done", "bytes_reused",
                "bytes_received", "copy_path", "error", "created_by"):
        click.echo(f"{key:15} {job[key]}")
    click.echo(f"{'rate_limit':15} {human_rate(job['rate_limit']) if job.get('rate_limit') else 'none'}")
    for r in job.get("source_rates", []):
        click.echo(f"{'from ' + r['host']:15} {render.size(r['bytes_verified'])} verified, "
                   f"{human_rate(r['bytes_per_s'])}")


@click.command("show")
@click.argument("job_id")
@render.output(show_job)
@click.pass_obj
def show(obj, job_id):
    """One job in full."""
    with obj.client() as mesh:
        return mesh.job(job_id)


@click.command("cancel")
@click.argument("job_id")
@render.output(lambda job: click.echo(f"job {job['id']} {job['state']}"))
@click.pass_obj
def cancel(obj, job_id):
    """Stop a job; the destination keeps no half-files outside its tmp area."""
    with obj.client() as mesh:
        return mesh.cancel_job(job_id)


@click.command("watch")
@click.argument("job_id", required=False)
@render.output(lambda result: None, json_help="Print each job as JSON whenever it changes, one object per line.")
@click.pass_obj
def watch(obj, job_id):
    """Follow one job, or every active job, with progress bars until they end; the coordinator
    streams each change as it happens (a coordinator from before that is polled)."""
    if render.json_requested():
        return _watched(obj, job_id)
    with obj.client() as mesh:
        ids = [job_id] if job_id else [j["id"] for j in mesh.jobs()]
        if not ids:
            click.echo("no active jobs")
            return None
        follow(mesh, ids)
    return None


def _watched(obj, job_id: str | None) -> Iterator[dict]:
    with obj.client() as mesh:  # open while the stream is printed
        ids = [job_id] if job_id else [j["id"] for j in mesh.jobs()]
        if ids:
            yield from job_updates(mesh, ids)
