"""Long-running commands: `meshctl up`, `meshctl coordinator serve`, `meshctl agent run`."""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from pathlib import Path

import click

from llmesh.cli import render
from llmesh.cli.config_option import config_option
from llmesh.common.config import (
    CREDENTIALS_FILE,
    DEFAULT_HEARTBEAT_S,
    DEFAULT_SCRUB_INTERVAL_S,
    DEFAULT_SCRUB_RATE,
    DEFAULT_SCRUB_SHARE,
    ENDPOINT_FILE,
    AgentConfig,
    CoordinatorConfig,
    HookSettings,
    check_address,
    home_from_env,
)
from llmesh.common.errors import InvalidArgument
from llmesh.common.hashing import use_blake3
from llmesh.common.homelock import AGENT_LOCK, COORDINATOR_LOCK, HomeLock
from llmesh.common.logfile import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, add_file_handler, default_log_file
from llmesh.common.names import check_host_name, sanitize_name
from llmesh.common.paths import native_root
from llmesh.common.pieces import check_piece_size
from llmesh.common.platform import on_stop_signals
from llmesh.common.ratelimit import quiet_hours as parse_quiet_hours
from llmesh.common.tickets import TICKET_TTL_S
from llmesh.common.units import parse_rate

GC_THRESHOLD = 20_000  # allocations between the collector's quick passes (Python's default: 700)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)


def _log_to_file(log_file: Path, max_bytes: int, backups: int) -> None:
    """The commands a service runs log to a rotating file (0600) as well as to stderr."""
    add_file_handler(log_file, max_bytes, backups)


def log_options(kind: str):
    """--log-file/--log-max-bytes/--log-backups of `agent run` and `coordinator serve`."""
    return with_options([
        click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help=f"The rotating log file (default: LLMESH_HOME/logs/{kind}.log)."),
        click.option("--log-max-bytes", type=int, default=DEFAULT_MAX_BYTES, show_default=True,
                     help="Rotate the log file at this size."),
        click.option("--log-backups", type=int, default=DEFAULT_BACKUPS, show_default=True,
                     help="Rotated log files kept."),
    ])


class _Stop(asyncio.Event):
    """Set by the first SIGINT/SIGTERM; a second one sets ``hurry`` (cut a drain short)."""

    def __init__(self):
        super().__init__()
        self.hurry = asyncio.Event()

    def signalled(self) -> None:
        (self.hurry if self.is_set() else self).set()


def _settle_gc() -> None:
    """A serving process keeps what it built at startup (modules, stubs, the registry) for good:
    frozen, the collector stops walking it on every full pass, and a higher first threshold lets
    an answer's short-lived dicts die before a pass looks at them (a listing makes thousands)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def _run_until_signalled(main) -> None:
    """Run ``main(stop_event)`` until it returns or a stop signal (SIGINT, SIGTERM; SIGBREAK on
    Windows) asks it to stop cleanly."""
    async def runner():
        stop = _Stop()
        restore = on_stop_signals(asyncio.get_running_loop(), stop.signalled)
        try:
            await main(stop)
        finally:
            restore()
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
    """Native absolute paths, as written (never resolved: paths.native_root); a root that does
    not exist is an error at start, not later."""
    native = []
    for root in roots:
        path = native_root(root)
        if not os.path.isdir(path):
            raise InvalidArgument(f"model root {root!r} is not a directory")
        native.append(path)
    return tuple(native)


def _default_roots(home: Path, env) -> tuple[str, ...]:
    """`meshctl up` with no --root: its own models folder, plus the HF cache and the
    Ollama store where this machine has them."""
    roots = [home / "models"]
    hf = Path(env.get("HF_HUB_CACHE") or Path(env.get("HF_HOME") or "~/.cache/huggingface") / "hub").expanduser()
    ollama = Path(env.get("OLLAMA_MODELS") or "~/.ollama/models").expanduser()
    roots += [p for p in (hf, ollama) if p.is_dir()]
    (home / "models").mkdir(parents=True, exist_ok=True)
    return tuple(native_root(str(p)) for p in roots)


agent_options = [
    click.option("--root", "roots", multiple=True, metavar="PATH", type=click.Path(),
                 help="A folder of models (repeatable)."),
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
    click.option("--scrub-interval", type=float, default=DEFAULT_SCRUB_INTERVAL_S, show_default=True,
                 help="Seconds between integrity scrubs (every copy re-read and re-hashed); 0 turns them off."),
    click.option("--scrub-rate", type=int, default=DEFAULT_SCRUB_RATE, show_default=True,
                 help="Bytes per second a scrub may read, on top of --scrub-share; 0: no limit."),
    click.option("--scrub-share", type=float, default=DEFAULT_SCRUB_SHARE, show_default=True, metavar="FRACTION",
                 help="The most of the wall time a scrub spends reading (above 0, at most 1): after a read "
                      "of t seconds it pauses t*(1-FRACTION)/FRACTION, so it follows the disk's real speed."),
    click.option("--max-upload-rate", default="0", show_default=True, metavar="RATE",
                 help="Most bytes/s this host sends to other agents, e.g. 50MB/s or 1GiB/s; 0: no limit."),
    click.option("--max-download-rate", default="0", show_default=True, metavar="RATE",
                 help="Most bytes/s this host's pulls receive, all together; 0: no limit."),
    click.option("--quiet-hours", "quiet_hours", multiple=True, metavar="HH:MM-HH:MM=RATE",
                 help="Cap uploads and downloads at RATE during this local-time window (repeatable; "
                      "may wrap midnight), e.g. 09:00-18:00=50MB/s."),
    click.option("--log-level", default="info", show_default=True,
                 type=click.Choice(["debug", "info", "warning", "error"])),
]


def _rate_limits(max_upload_rate: str, max_download_rate: str, quiet_hours) -> dict:
    """The AgentConfig fields of the bandwidth options; InvalidArgument names a bad one."""
    return {"max_upload_rate": parse_rate(max_upload_rate, "--max-upload-rate"),
            "max_download_rate": parse_rate(max_download_rate, "--max-download-rate"),
            "quiet_hours": parse_quiet_hours(quiet_hours)}


def with_options(options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


@click.command()
@config_option
@click.option("--listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Coordinator address (port 0 picks a free one; meshctl finds it through LLMESH_HOME).")
@click.option("--http-listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="HTTPS address for the dashboard, /healthz and /metrics (the API's certificate); "
                   "'' turns it off.")
@click.option("--name", default=None, help="This host's name in the mesh (default: the hostname).")
@with_options(agent_options)
@click.pass_obj
def up(obj, listen, http_listen, name, roots, heartbeat, rescan_interval, hash_workers, labels, ollama_url, llama_server,
       scrub_interval, scrub_rate, scrub_share, max_upload_rate, max_download_rate, quiet_hours, log_level):
    """Start the embedded default: a coordinator and a local agent, on loopback.

    Data lives under LLMESH_HOME (default ~/.local/share/llmesh); every other meshctl
    command run with the same LLMESH_HOME finds this coordinator. Ctrl-C stops it.
    One `up` runs per LLMESH_HOME: a second says where the first is and exits 1."""
    from llmesh.agent.runtime import AgentRuntime
    from llmesh.coordinator.server import Coordinator

    _logging(log_level)
    home = home_from_env(obj.env)
    check_address(listen)
    http_listen = check_address(http_listen) if http_listen else ""
    scrub_interval, scrub_rate = _scrub_interval(scrub_interval), _scrub_rate(scrub_rate)
    scrub_share = _scrub_share(scrub_share)
    timing, labels = _timing(heartbeat, rescan_interval, hash_workers), _labels(labels)
    roots = _roots(roots) if roots else ()
    limits = _rate_limits(max_upload_rate, max_download_rate, quiet_hours)
    name = check_host_name(name or sanitize_name(socket.gethostname()).replace("/", "-"))
    # One `up` per home: a second one stops here, before it writes anything.
    coordinator_lock = HomeLock.acquire(home, COORDINATOR_LOCK, "up")
    agent_lock = HomeLock.acquire(home / "agent", AGENT_LOCK, "up")
    roots = roots or _default_roots(home, obj.env)
    coordinator_config = CoordinatorConfig(data_dir=home / "coordinator", listen=listen,
                                           http_listen=http_listen, endpoint_file=home / ENDPOINT_FILE,
                                           credentials_file=home / CREDENTIALS_FILE)

    async def main(stop):
        coord = await Coordinator.start(coordinator_config)
        _settle_gc()
        await _provision_local_agent(coord, home / "agent")
        agent = AgentRuntime(AgentConfig(
            home=home / "agent", name=name, coordinator=coord.address, roots=roots, **timing,
            labels=labels, ollama_url=ollama_url,
            llama_server_binary=llama_server, scrub_interval_s=scrub_interval, scrub_rate_bytes_s=scrub_rate,
            scrub_share=scrub_share,
            **limits))
        task = asyncio.create_task(agent.run())
        click.echo(f"llmesh is up: coordinator {coord.address}" + (f", HTTPS {coord.http_address}"
                   if coord.http_address else "") + f", agent {name!r}, "
                   f"roots {', '.join(roots)}; data in {home}. Ctrl-C stops it.", err=True)
        try:
            await _until(stop, task)
        finally:
            agent.stop()
            await asyncio.gather(task, return_exceptions=True)
            await coord.stop()
            click.echo("llmesh stopped", err=True)

    with coordinator_lock, agent_lock:
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
@config_option
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
@click.option("--http-listen", default="", metavar="HOST:PORT",
              help="HTTPS address for the dashboard, /healthz and /metrics (the API's certificate); default: none.")
@click.option("--drain", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="On SIGTERM, report NOT_SERVING (gRPC health, /healthz) this long before stopping, "
                   "so load balancers stop sending work first; a second SIGTERM ends the wait.")
@click.option("--hook-attempts", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Attempts at each webhook delivery before it is logged as failed.")
@click.option("--hook-backoff", type=click.FloatRange(0.01, 3600), default=5.0, show_default=True,
              metavar="SECONDS", help="Wait before a webhook's 2nd attempt; doubled for each one after.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@log_options("coordinator")
@click.pass_obj
def serve(obj, listen, link_listen, advertise, agent_cert_ttl, piece_size, ticket_ttl, data_dir, http_listen, drain,
          hook_attempts, hook_backoff, log_level, log_file, log_max_bytes, log_backups):
    """Serve the registry and the Mesh API; agents dial in to it.

    The first start creates the mesh CA and an admin whose credentials are written,
    0600, to LLMESH_HOME/credentials.json."""
    from llmesh.coordinator.server import Coordinator

    home = home_from_env(obj.env)
    _logging(log_level)
    config = coordinator_config(home, listen, link_listen, advertise, agent_cert_ttl, piece_size, ticket_ttl,
                                data_dir, http_listen, drain, hook_attempts, hook_backoff)

    async def main(stop):
        coord = await Coordinator.start(config)
        _settle_gc()
        click.echo(f"coordinator listening on {coord.address}"
                   + (f", HTTPS on {coord.http_address}" if coord.http_address else ""), err=True)
        try:
            await stop.wait()
        finally:
            await coord.stop(hurry=stop.hurry)

    with HomeLock.acquire(home, COORDINATOR_LOCK, "coordinator serve"):  # it owns coordinator.json here
        # The log file only once the home is ours: a refused second start touches nothing.
        _log_to_file(log_file or default_log_file(home, "coordinator"), log_max_bytes, log_backups)
        _run_until_signalled(main)


def coordinator_config(home: Path, listen, link_listen, advertise, agent_cert_ttl, piece_size, ticket_ttl,
                       data_dir, http_listen, drain, hook_attempts, hook_backoff, **_) -> CoordinatorConfig:
    """`coordinator serve`'s options checked (InvalidArgument names a bad one), as a config;
    `coordinator install` checks its options with it before it writes anything."""
    return CoordinatorConfig(data_dir=(data_dir or home / "coordinator").resolve(),
                             listen=check_address(listen),
                             link_listen=check_address(link_listen) if link_listen else "",
                             endpoint_file=home / ENDPOINT_FILE, credentials_file=home / CREDENTIALS_FILE,
                             advertise=tuple(advertise), agent_cert_ttl_s=agent_cert_ttl,
                             piece_size=check_piece_size(piece_size), ticket_ttl_s=_ticket_ttl(ticket_ttl),
                             http_listen=check_address(http_listen) if http_listen else "", drain_s=_drain(drain),
                             hooks=HookSettings(attempts=hook_attempts, backoff_s=hook_backoff))


def _drain(seconds: float) -> float:
    if not 0 <= seconds <= 600:
        raise InvalidArgument(f"--drain {seconds:g}: must be between 0 and 600 seconds")
    return seconds


def _ticket_ttl(seconds: float) -> float:
    if not 1 <= seconds <= 86400:
        raise InvalidArgument(f"--ticket-ttl {seconds:g}: must be between 1 second and 1 day")
    return seconds


@click.group()
def agent():
    """Run an agent on its own (one per machine)."""


@click.command("run")
@config_option
@click.option("--coordinator", "coordinator_address", required=True, metavar="HOST:PORT",
              help="The coordinator's API address (used to join; the link address comes from the join).")
@click.option("--token", default="", envvar="LLMESH_JOIN_TOKEN", metavar="K10…",
              help="A one-time join token, needed on the first start only.")
@click.option("--name", default=None, help="This host's name in the mesh (default: the hostname).")
@click.option("--listen", default="0.0.0.0:0", show_default=True, metavar="HOST:PORT",
              help="Where this agent serves other agents.")
@click.option("--advertise", default="", metavar="HOST:PORT",
              help="The address other agents should dial (default: the bound one).")
@click.option("--blob-port", type=click.IntRange(0, 65535), default=0, show_default=True, metavar="PORT",
              help="The port of the mutual-TLS socket that carries model bytes to other agents, on "
                   "--listen's host; 0: any free port. Fix it to open it in a firewall; where other "
                   "agents cannot reach it they read over the --listen port, slower.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The agent's state (stable id, hash cache); default LLMESH_HOME/agent.")
@click.option("--reconnect-max", type=float, default=30.0, show_default=True,
              help="Longest wait between reconnect attempts, in seconds.")
@with_options(agent_options)
@log_options("agent")
@click.pass_obj
def run(obj, coordinator_address, token, name, listen, advertise, blob_port, home, reconnect_max, roots, heartbeat,
        rescan_interval, hash_workers, labels, ollama_url, llama_server, scrub_interval, scrub_rate, scrub_share,
        max_upload_rate, max_download_rate, quiet_hours, log_level, log_file, log_max_bytes, log_backups):
    """Report this machine's hardware and models to a coordinator and do its jobs."""
    from llmesh.agent.runtime import AgentRuntime
    from llmesh.agent.testing import (
        no_blake3_from_env,
        peer_faults_from_env,
        protocol_from_env,
        receive_faults_from_env,
        ticket_log_from_env,
    )

    _logging(log_level)
    config = agent_config(obj.env, coordinator_address, token, name, listen, advertise, blob_port, home, roots,
                          heartbeat, rescan_interval, hash_workers, labels, ollama_url, llama_server, scrub_interval,
                          scrub_rate, scrub_share, max_upload_rate, max_download_rate, quiet_hours)
    faults = peer_faults_from_env(obj.env)  # the test harness's fault hooks; None in production
    receive_faults = receive_faults_from_env(obj.env)
    ticket_log = ticket_log_from_env(obj.env)
    protocol = protocol_from_env(obj.env)
    if no_blake3_from_env(obj.env):
        use_blake3(False)

    async def main(stop):
        runtime = AgentRuntime(config, reconnect_max_s=reconnect_max, faults=faults,
                               receive_faults=receive_faults, ticket_log=ticket_log, protocol=protocol)
        task = asyncio.create_task(runtime.run())
        try:
            await _until(stop, task)
        finally:
            runtime.stop()
            results = await asyncio.gather(task, return_exceptions=True)
        if isinstance(results[0], Exception):
            raise results[0]

    with HomeLock.acquire(config.home, AGENT_LOCK, "agent run"):  # one agent per identity and store
        _log_to_file(log_file or default_log_file(home_from_env(obj.env), "agent"), log_max_bytes, log_backups)
        _run_until_signalled(main)


def agent_config(env, coordinator_address, token, name, listen, advertise, blob_port, home, roots, heartbeat,
                 rescan_interval, hash_workers, labels, ollama_url, llama_server, scrub_interval, scrub_rate,
                 scrub_share, max_upload_rate, max_download_rate, quiet_hours, **_) -> AgentConfig:
    """`agent run`'s options checked (InvalidArgument names a bad one), as a config; `agent
    install` checks its options with it before it writes anything."""
    if not roots:
        raise InvalidArgument("at least one --root PATH is required")
    return AgentConfig(
        home=(home or home_from_env(env) / "agent").resolve(),
        name=check_host_name(name or sanitize_name(socket.gethostname()).replace("/", "-")),
        coordinator=check_address(coordinator_address), roots=_roots(roots),
        listen=check_address(listen), advertise=check_address(advertise) if advertise else "", blob_port=blob_port,
        **_timing(heartbeat, rescan_interval, hash_workers), labels=_labels(labels), join_token=token,
        ollama_url=ollama_url, llama_server_binary=llama_server,
        scrub_interval_s=_scrub_interval(scrub_interval), scrub_rate_bytes_s=_scrub_rate(scrub_rate),
        scrub_share=_scrub_share(scrub_share),
        **_rate_limits(max_upload_rate, max_download_rate, quiet_hours))


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


def _timing(heartbeat: float, rescan_interval: float, hash_workers: int) -> dict:
    """The AgentConfig fields of the agent's pace; 0 or less would spin (a heartbeat or a rescan
    without a pause between them)."""
    for flag, value in (("--heartbeat", heartbeat), ("--rescan-interval", rescan_interval)):
        if not value > 0:
            raise InvalidArgument(f"{flag} {value:g}: must be a number of seconds above 0")
    if hash_workers < 1:
        raise InvalidArgument(f"--hash-workers {hash_workers}: must be 1 or more")
    return {"heartbeat_interval_s": heartbeat, "rescan_interval_s": rescan_interval, "hash_workers": hash_workers}


def _scrub_rate(rate: int) -> int:
    if rate < 0:
        raise InvalidArgument(f"--scrub-rate {rate}: must be 0 (no limit) or bytes per second")
    return rate


def _scrub_share(share: float) -> float:
    if not 0 < share <= 1:  # 0 would never read; NaN fails this too
        raise InvalidArgument(f"--scrub-share {share:g}: must be a fraction above 0 and at most 1, e.g. 0.25")
    return share


def _scrub_interval(seconds: float) -> float:
    if seconds < 0:
        raise InvalidArgument(f"--scrub-interval {seconds:g}: must be 0 (off) or a number of seconds")
    return seconds
