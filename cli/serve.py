"""Long-running commands: `meshctl up`, `meshctl coordinator serve`, `meshctl agent run`."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from pathlib import Path

import click

from llmesh.cli import render
from llmesh.common.config import (
    CREDENTIALS_FILE,
    DEFAULT_HEARTBEAT_S,
    ENDPOINT_FILE,
    AgentConfig,
    CoordinatorConfig,
    check_address,
    home_from_env,
)
from llmesh.common.errors import InvalidArgument
from llmesh.common.names import check_host_name, sanitize_name
from llmesh.common.pieces import check_piece_size
from llmesh.common.tickets import TICKET_TTL_S

GC_THRESHOLD = 20_000  # allocations between the collector's quick passes (Python's default: 700)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)


def _settle_gc() -> None:
    """A serving process keeps what it built at startup (modules, stubs, the registry) for good:
    frozen, the collector stops walking it on every full pass, and a higher first threshold lets
    an answer's short-lived dicts die before a pass looks at them (a listing makes thousands)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def _run_until_signalled(main) -> None:
    """Run ``main(stop_event)`` until it returns or SIGINT/SIGTERM asks it to stop cleanly."""
    async def runner():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: KeyboardInterrupt instead
                pass
        await main(stop)
    asyncio.run(runner())


async def _until(stop: asyncio.Event, task: asyncio.Task) -> None:
    """Wait for a stop signal or for the task to end by itself (its error propagates)."""
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()


def _labels(pairs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not key:
            raise InvalidArgument(f"invalid label {pair!r}: expected KEY or KEY=VALUE")
        out.append((key, value if sep else "true"))
    return tuple(out)


def _roots(roots: tuple[str, ...]) -> tuple[str, ...]:
    """Native absolute paths; a root that does not exist is an error at start, not later."""
    resolved = []
    for root in roots:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise InvalidArgument(f"model root {root!r} is not a directory")
        resolved.append(str(path.resolve()))
    return tuple(resolved)


def _default_roots(home: Path, env) -> tuple[str, ...]:
    """`meshctl up` with no --root: its own models folder, plus the HF cache and the
    Ollama store where this machine has them."""
    roots = [home / "models"]
    hf = Path(env.get("HF_HUB_CACHE") or Path(env.get("HF_HOME") or "~/.cache/huggingface") / "hub").expanduser()
    ollama = Path(env.get("OLLAMA_MODELS") or "~/.ollama/models").expanduser()
    roots += [p for p in (hf, ollama) if p.is_dir()]
    (home / "models").mkdir(parents=True, exist_ok=True)
    return tuple(str(p.resolve()) for p in roots)


agent_options = [
    click.option("--root", "roots", multiple=True, metavar="PATH", help="A folder of models (repeatable)."),
    click.option("--heartbeat", type=float, default=DEFAULT_HEARTBEAT_S, show_default=True,
                 help="Seconds between heartbeats; three missed ones mark the host offline."),
    click.option("--rescan-interval", type=float, default=60.0, show_default=True,
                 help="Seconds between background rescans of the roots."),
    click.option("--hash-workers", type=int, default=2, show_default=True, help="Threads hashing files."),
    click.option("--label", "labels", multiple=True, metavar="KEY[=VALUE]",
                 help="A host label (repeatable); `halext` marks a halext serving node."),
    click.option("--ollama-url", default="http://127.0.0.1:11434", show_default=True,
                 help="This host's Ollama daemon, for the ollama backend."),
    click.option("--llama-server", "llama_server", default="", metavar="PATH",
                 help="A llama-server binary to serve with (default: llama-cpp-python's server)."),
    click.option("--log-level", default="info", show_default=True,
                 type=click.Choice(["debug", "info", "warning", "error"])),
]


def with_options(options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


@click.command()
@click.option("--listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Coordinator address (port 0 picks a free one; meshctl finds it through LLMESH_HOME).")
@click.option("--name", default=None, help="This host's name in the mesh (default: the hostname).")
@with_options(agent_options)
@click.pass_obj
def up(obj, listen, name, roots, heartbeat, rescan_interval, hash_workers, labels, ollama_url, llama_server,
       log_level):
    """Start the embedded default: a coordinator and a local agent, on loopback.

    Data lives under LLMESH_HOME (default ~/.local/share/llmesh); every other meshctl
    command run with the same LLMESH_HOME finds this coordinator. Ctrl-C stops it."""
    from llmesh.agent.runtime import AgentRuntime
    from llmesh.coordinator.server import Coordinator

    _logging(log_level)
    home = home_from_env(obj.env)
    check_address(listen)
    roots = _roots(roots) if roots else _default_roots(home, obj.env)
    name = check_host_name(name or sanitize_name(socket.gethostname()).replace("/", "-"))
    coordinator_config = CoordinatorConfig(data_dir=home / "coordinator", listen=listen,
                                           endpoint_file=home / ENDPOINT_FILE,
                                           credentials_file=home / CREDENTIALS_FILE)

    async def main(stop):
        coord = await Coordinator.start(coordinator_config)
        _settle_gc()
        await _provision_local_agent(coord, home / "agent")
        agent = AgentRuntime(AgentConfig(
            home=home / "agent", name=name, coordinator=coord.address, roots=roots,
            heartbeat_interval_s=heartbeat, rescan_interval_s=rescan_interval,
            hash_workers=hash_workers, labels=_labels(labels), ollama_url=ollama_url,
            llama_server_binary=llama_server))
        task = asyncio.create_task(agent.run())
        click.echo(f"llmesh is up: coordinator {coord.address}, agent {name!r}, "
                   f"roots {', '.join(roots)}; data in {home}. Ctrl-C stops it.", err=True)
        try:
            await _until(stop, task)
        finally:
            agent.stop()
            await asyncio.gather(task, return_exceptions=True)
            await coord.stop()
            click.echo("llmesh stopped", err=True)

    _run_until_signalled(main)


async def _provision_local_agent(coord, agent_home: Path) -> None:
    """`meshctl up` needs no join token: the coordinator in this process signs the
    local agent's certificate directly, and it still speaks mutual TLS."""
    from llmesh.agent.credentials import AgentCredentials, renewal_due
    from llmesh.agent.identity import load_or_create_identity

    credentials = AgentCredentials(agent_home)
    identity = credentials.load()
    if identity is not None and coord.ca.issued_this(identity.cert()) and not renewal_due(identity):
        credentials.save_link_address(coord.link_address)
        return
    agent_id = load_or_create_identity(agent_home)["id"]
    key_pem, csr_pem = credentials.new_request(agent_id)
    cert_pem = await coord.security.issue_agent_certificate(agent_id, csr_pem)
    credentials.save(key_pem, cert_pem, coord.ca.pem, coord.link_address)


@click.group()
def coordinator():
    """Run the coordinator on its own (as on a real fleet)."""


@click.command("serve")
@click.option("--listen", default="0.0.0.0:7440", show_default=True, metavar="HOST:PORT",
              help="The API (TLS): people with tokens, agents joining.")
@click.option("--link-listen", default="", metavar="HOST:PORT",
              help="Agents' links (mutual TLS); default: the --listen port + 1.")
@click.option("--advertise", multiple=True, metavar="NAME",
              help="A name or address agents and people use to reach this coordinator (repeatable; "
                   "goes into its certificate).")
@click.option("--agent-cert-ttl", type=float, default=30 * 86400.0, show_default=True,
              help="Lifetime of agents' certificates in seconds (they renew after two thirds).")
@click.option("--piece-size", type=int, default=64 * 1024 * 1024, show_default=True,
              help="Transfers verify and resume in pieces of this many bytes (a power of two "
                   "from 1 MiB to 256 MiB).")
@click.option("--ticket-ttl", type=float, default=TICKET_TTL_S, show_default=True,
              help="Lifetime of transfer tickets in seconds (pulls renew theirs after two thirds).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the registry and the mesh CA live (default: LLMESH_HOME/coordinator).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_obj
def serve(obj, listen, link_listen, advertise, agent_cert_ttl, piece_size, ticket_ttl, data_dir, log_level):
    """Serve the registry and the Mesh API; agents dial in to it.

    The first start creates the mesh CA and an admin whose credentials are written,
    0600, to LLMESH_HOME/credentials.json."""
    from llmesh.coordinator.server import Coordinator

    _logging(log_level)
    home = home_from_env(obj.env)
    config = CoordinatorConfig(data_dir=(data_dir or home / "coordinator").resolve(),
                               listen=check_address(listen),
                               link_listen=check_address(link_listen) if link_listen else "",
                               endpoint_file=home / ENDPOINT_FILE, credentials_file=home / CREDENTIALS_FILE,
                               advertise=tuple(advertise), agent_cert_ttl_s=agent_cert_ttl,
                               piece_size=check_piece_size(piece_size), ticket_ttl_s=_ticket_ttl(ticket_ttl))

    async def main(stop):
        coord = await Coordinator.start(config)
        _settle_gc()
        click.echo(f"coordinator listening on {coord.address}", err=True)
        try:
            await stop.wait()
        finally:
            await coord.stop()

    _run_until_signalled(main)


def _ticket_ttl(seconds: float) -> float:
    if not 1 <= seconds <= 86400:
        raise InvalidArgument(f"--ticket-ttl {seconds:g}: must be between 1 second and 1 day")
    return seconds


@click.group()
def agent():
    """Run an agent on its own (one per machine)."""


@click.command("run")
@click.option("--coordinator", "coordinator_address", required=True, metavar="HOST:PORT",
              help="The coordinator's API address (used to join; the link address comes from the join).")
@click.option("--token", default="", envvar="LLMESH_JOIN_TOKEN", metavar="K10…",
              help="A one-time join token, needed on the first start only.")
@click.option("--name", default=None, help="This host's name in the mesh (default: the hostname).")
@click.option("--listen", default="0.0.0.0:0", show_default=True, metavar="HOST:PORT",
              help="Where this agent serves other agents.")
@click.option("--advertise", default="", metavar="HOST:PORT",
              help="The address other agents should dial (default: the bound one).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The agent's state (stable id, hash cache); default LLMESH_HOME/agent.")
@click.option("--reconnect-max", type=float, default=30.0, show_default=True,
              help="Longest wait between reconnect attempts, in seconds.")
@with_options(agent_options)
@click.pass_obj
def run(obj, coordinator_address, token, name, listen, advertise, home, reconnect_max, roots, heartbeat,
        rescan_interval, hash_workers, labels, ollama_url, llama_server, log_level):
    """Report this machine's hardware and models to a coordinator and do its jobs."""
    from llmesh.agent.runtime import AgentRuntime
    from llmesh.agent.testing import peer_faults_from_env, receive_faults_from_env, ticket_log_from_env

    _logging(log_level)
    if not roots:
        raise InvalidArgument("at least one --root PATH is required")
    config = AgentConfig(
        home=(home or home_from_env(obj.env) / "agent").resolve(),
        name=check_host_name(name or sanitize_name(socket.gethostname()).replace("/", "-")),
        coordinator=check_address(coordinator_address), roots=_roots(roots),
        listen=check_address(listen), advertise=check_address(advertise) if advertise else "",
        heartbeat_interval_s=heartbeat, rescan_interval_s=rescan_interval, hash_workers=hash_workers,
        labels=_labels(labels), join_token=token, ollama_url=ollama_url, llama_server_binary=llama_server)
    faults = peer_faults_from_env(obj.env)  # the test harness's fault hooks; None in production
    receive_faults = receive_faults_from_env(obj.env)
    ticket_log = ticket_log_from_env(obj.env)

    async def main(stop):
        runtime = AgentRuntime(config, reconnect_max_s=reconnect_max, faults=faults,
                               receive_faults=receive_faults, ticket_log=ticket_log)
        task = asyncio.create_task(runtime.run())
        try:
            await _until(stop, task)
        finally:
            runtime.stop()
            results = await asyncio.gather(task, return_exceptions=True)
        if isinstance(results[0], Exception):
            raise results[0]

    _run_until_signalled(main)


@click.command("join")
@click.argument("coordinator_address", metavar="HOST:PORT")
@click.option("--token", required=True, metavar="K10…", help="A one-time join token (it pins the mesh CA).")
@click.option("--name", default=None, help="This host's name in the mesh (default: the hostname).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The agent's state; default LLMESH_HOME/agent.")
@click.pass_obj
def join(obj, coordinator_address, token, name, home):
    """Join a mesh: trade a join token for this agent's certificate, then exit."""
    from llmesh.agent.credentials import AgentCredentials
    from llmesh.agent.identity import load_or_create_identity

    home = (home or home_from_env(obj.env) / "agent").resolve()
    name = check_host_name(name or sanitize_name(socket.gethostname()).replace("/", "-"))
    agent_id = load_or_create_identity(home)["id"]
    identity = AgentCredentials(home).join(check_address(coordinator_address), token, agent_id, name)
    click.echo(f"joined the mesh at {coordinator_address} as {name} (agent {agent_id}); certificate valid "
               f"until {identity.cert().not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


@click.command("request")
@click.argument("ref", metavar="NAME[:VERSION]|NAME@ALIAS", required=False, default="")
@click.option("--role", default="", help="Ask for whatever model serves this role instead.")
@click.option("--backend", type=click.Choice(["llamacpp", "halext"]), default="halext", show_default=True)
@click.option("--port", type=int, default=0, help="Serve on this port (default: a free one).")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The agent's state; default LLMESH_HOME/agent.")
@render.output(lambda d: click.echo(f"{d['ref']} is served here by {d['backend']} at {d['endpoint']}"))
@click.pass_obj
def request(obj, ref, role, backend, port, home):
    """On a halext node: ask the coordinator to serve a model here (by name, alias or role),
    speaking as this host's agent (its mesh certificate)."""
    from llmesh.agent.credentials import AgentCredentials
    from llmesh.sdk.node_client import request_model

    credentials = AgentCredentials((home or home_from_env(obj.env) / "agent").resolve())
    return request_model(credentials, ref, role, backend, port, obj.timeout)
