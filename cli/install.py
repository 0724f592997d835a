"""`meshctl agent|coordinator install|status|uninstall|logs`: llmesh as a service of the host's
own manager (systemd, launchd, WinSW). A thin layer over llmesh.common.services.

Install takes the options of the command the service runs (`agent run`, `coordinator serve`)
and writes the ones given into LLMESH_HOME/<kind>.toml, over what an earlier install wrote
there: installing again upgrades in place. The service runs `<python> -m llmesh.cli … --config
that file`. An agent joins the mesh once, at its first install; later ones keep its identity.
"""
from __future__ import annotations

import getpass
import json
import socket
import subprocess
import sys
from pathlib import Path

import click

from llmesh.cli import render, serve
from llmesh.cli.config_option import config_keys
from llmesh.common.config import check_address, home_from_env
from llmesh.common.config_file import check_config, dump_toml, read_config
from llmesh.common.errors import FailedPrecondition, InvalidArgument, NotFound
from llmesh.common.logfile import default_log_file, tail
from llmesh.common.logfile import follow as follow_file
from llmesh.common.names import check_host_name, sanitize_name
from llmesh.common.services.manager import ServiceManager
from llmesh.common.services.spec import PLATFORMS, ServiceFile, ServiceSpec, host_platform, join, service_env

# kind -> (the command a service runs, its words after `meshctl`, options install does not write)
SOURCES = {"agent": (serve.run, ("agent", "run"), {"config", "token"}),
           "coordinator": (serve.serve, ("coordinator", "serve"), {"config"})}
DEFAULT_PYTHON = {"linux": "/usr/bin/python3", "macos": "/usr/bin/python3", "windows": "python.exe"}


def _passthrough(kind: str) -> list[click.Option]:
    """The source command's options, without defaults: only those given go into the config."""
    command, _, skip = SOURCES[kind]
    return [click.Option([p.name, *p.opts], type=p.type, multiple=p.multiple, default=None, metavar=p.metavar,
                         help=p.help) for p in command.params
            if isinstance(p, click.Option) and p.name not in skip]


def _install_options(kind: str) -> list[click.Option]:
    token = [click.Option(["--token"], default="", envvar="LLMESH_JOIN_TOKEN", metavar="K10…",
                          help="A one-time join token; needed by the first install only.")] if kind == "agent" else []
    return token + [
        click.Option(["--user/--system", "user_scope"], default=False,
                     help="The user's service (systemd --user, a LaunchAgent, the user's account on Windows) "
                          "or the system's (default: a system unit, a LaunchDaemon, LocalSystem)."),
        click.Option(["--dry-run"], is_flag=True,
                     help="Write nothing: print each file as a line `# FILE: <path>` and its content "
                          "(and the commands it would run, to stderr)."),
        click.Option(["--platform"], type=click.Choice(PLATFORMS), default=None,
                     help="Produce another platform's files (with --dry-run); default: this host's."),
        click.Option(["--env", "env_items"], multiple=True, metavar="KEY[=VALUE]",
                     help="Another environment variable for the service (KEY alone: its value here); "
                          "LLMESH_HOME, HF_HOME, HF_HUB_CACHE, OLLAMA_MODELS, OLLAMA_HOST and "
                          "CUDA_VISIBLE_DEVICES are captured from this shell by themselves."),
        click.Option(["--python", "python"], default=None, metavar="PATH",
                     help="The interpreter the service runs (default: this one; its virtualenv's python works)."),
        click.Option(["--winsw"], default=None, metavar="PATH",
                     help="Windows: the WinSW executable to install (default: LLMESH_WINSW, or winsw.exe on PATH)."),
    ]


def _install_command(kind: str) -> click.Command:
    own = {o.name for o in _install_options(kind)}

    def callback(**params):
        _install(kind, {k: params.pop(k) for k in own}, params)

    run_words = " ".join(SOURCES[kind][1])
    return click.Command("install", callback=callback, params=_install_options(kind) + _passthrough(kind),
                         help=f"Install the {kind} as a service: started now and at boot, restarted when it "
                              f"dies. The options of `meshctl {run_words}` given here go into "
                              f"LLMESH_HOME/{kind}.toml, which the service runs with `{run_words} --config`."
                              + (" Joins the mesh on the first install (--token); installing again upgrades "
                                 "in place and keeps the agent's identity." if kind == "agent" else ""))


def _target_home(env, platform: str) -> str:
    if platform == host_platform():
        return str(home_from_env(env))
    if not env.get("LLMESH_HOME"):
        example = "C:\\llmesh" if platform == "windows" else "/var/lib/llmesh"
        raise InvalidArgument(f"--platform {platform}: set LLMESH_HOME to the llmesh home on that host "
                              f"(e.g. {example})")
    return env["LLMESH_HOME"]


def _native(value, foreign: bool) -> str:
    """A path flag as the service will read it: absolute, unless it names another platform's path."""
    return str(value) if foreign else str(Path(value).expanduser().resolve())


def _config_values(kind: str, given: dict, config_path: str, foreign: bool) -> dict:
    """Parameter name -> value for the config: the earlier install's file, then the flags given."""
    command = SOURCES[kind][0]
    keys = config_keys(command)
    existing = {}
    if not foreign and Path(config_path).is_file():
        existing = check_config(read_config(config_path), keys, config_path)
    values = {**existing, **{k: v for k, v in given.items() if v is not None and v != ()}}
    for key in keys.values():
        if key.dest in values and key.kind == "path" and not key.multiple:
            values[key.dest] = _native(values[key.dest], foreign)
    if kind == "agent":
        if not values.get("coordinator_address"):
            raise InvalidArgument("--coordinator HOST:PORT is required (the coordinator's API address)")
        if not values.get("roots"):
            raise InvalidArgument("at least one --root PATH is required")
        check_address(values["coordinator_address"])
        values["roots"] = tuple(_root(r, foreign) for r in values["roots"])
        values["name"] = check_host_name(values.get("name") or sanitize_name(socket.gethostname()).replace("/", "-"))
    return values


def _check_options(kind: str, values: dict, env, home: str) -> None:
    """Refuse now, before anything is written, what the service would refuse at each start."""
    command = SOURCES[kind][0]
    # The command's own parsing fills in its defaults, as the service's `--config` will.
    params = command.make_context(command.name, [], default_map=values).params
    if kind == "agent":
        serve.agent_config(env, **params)
    else:
        serve.coordinator_config(Path(home), **params)


def _root(root: str, foreign: bool) -> str:
    if foreign:
        return root
    path = Path(root).expanduser()
    if not path.is_dir():
        raise InvalidArgument(f"model root {root!r} is not a directory")
    return str(path.resolve())


def _to_toml(kind: str, values: dict) -> str:
    names = {key.dest: name for name, key in config_keys(SOURCES[kind][0]).items()}
    data = {names[dest]: list(v) if isinstance(v, tuple) else v for dest, v in values.items()}
    return dump_toml(data, f"llmesh {kind} service config, written by `meshctl {kind} install`: every option "
                           f"of `meshctl {' '.join(SOURCES[kind][1])}` has a key here.\nInstalling again keeps "
                           "the keys it is not given; flags on the command line override this file.")


def _spec(kind: str, platform: str, scope: str, home: str, env, python: str | None = None,
          env_items=()) -> ServiceSpec:
    foreign = platform != host_platform()
    python = python or (DEFAULT_PYTHON[platform] if foreign else sys.executable)
    argv = (python, "-m", "llmesh.cli", *SOURCES[kind][1], "--config", join(platform, home, f"{kind}.toml"))
    account = ""
    if platform == "windows" and scope == "user":
        account = f"{env.get('USERDOMAIN') or '.'}\\{env.get('USERNAME') or getpass.getuser()}"
    return ServiceSpec(kind, platform, scope, argv, home, "~" if foreign else str(Path.home()),
                       service_env(env, home, env_items), account)


def _install(kind: str, own: dict, given: dict) -> None:
    env = click.get_current_context().obj.env
    platform = own["platform"] or host_platform()
    foreign = platform != host_platform()
    if foreign and not own["dry_run"]:
        raise InvalidArgument(f"--platform {platform}: this host runs {host_platform()}; only --dry-run can "
                              "produce another platform's files")
    home = _target_home(env, platform)
    scope = "user" if own["user_scope"] else "system"
    spec = _spec(kind, platform, scope, home, env, own["python"], own["env_items"])
    config_path = spec.argv[-1]
    values = _config_values(kind, given, config_path, foreign)
    if not foreign:  # another platform's paths cannot be checked here
        _check_options(kind, values, env, home)
    manager = ServiceManager(spec, env, own["winsw"])
    files = [ServiceFile(config_path, _to_toml(kind, values), managed=False), manager.service_file()]
    if own["dry_run"]:
        for f in files:
            click.echo(f"# FILE: {f.path}")
            click.echo(f.content, nl=False)
        for command in manager.start_commands():
            click.echo(f"would run: {subprocess.list2cmdline(command)}", err=True)
        return
    manager.check()
    joined = _join_once(values, home, own.get("token", "")) if kind == "agent" else ""
    manager.install(files)
    click.echo(f"installed {spec.name} as a {scope} {manager.manager_name} service: "
               f"{manager.where(files[1].path)}; config {config_path}; started now and at boot, restarted "
               f"when it dies. {joined}Logs: meshctl {kind} logs")
    if platform == "linux" and scope == "user":
        click.echo(f"note: a user service stops when {getpass.getuser()} logs out and starts at their login; "
                   f"`loginctl enable-linger {getpass.getuser()}` keeps it running and starts it at boot")


def _join_once(values: dict, home: str, token: str) -> str:
    """Join with the token unless this home already holds the agent's certificate."""
    from llmesh.agent.credentials import AgentCredentials
    from llmesh.agent.identity import load_or_create_identity

    agent_home = Path(values.get("home") or Path(home) / "agent")
    credentials = AgentCredentials(agent_home)
    if credentials.load() is not None:
        return f"Kept the agent's identity ({load_or_create_identity(agent_home)['id']}). "
    if not token:
        raise InvalidArgument(f"--token K10… is needed to join the mesh: {agent_home} holds no certificate yet")
    agent_id = load_or_create_identity(agent_home)["id"]
    credentials.join(check_address(values["coordinator_address"]), token, agent_id, values["name"])
    return f"Joined the mesh as {values['name']} (agent {agent_id}). "


agent_install = _install_command("agent")
coordinator_install = _install_command("coordinator")


def _installed(kind: str, env, user_scope: bool | None) -> tuple[ServiceSpec, ServiceManager]:
    """The installed service (system first, then the user's, unless --user/--system says which)."""
    home = str(home_from_env(env))
    scopes = ["system", "user"] if user_scope is None else ["user" if user_scope else "system"]
    found = None
    for scope in scopes:
        spec = _spec(kind, host_platform(), scope, home, env)
        manager = ServiceManager(spec, env)
        found = found or (spec, manager)
        if manager.installed_file():
            return spec, manager
    return found


def _config_of(kind: str, home: Path) -> dict:
    path = home / f"{kind}.toml"
    return check_config(read_config(path), config_keys(SOURCES[kind][0]), path) if path.is_file() else {}


def _log_file(kind: str, env) -> Path:
    home = home_from_env(env)
    return Path(_config_of(kind, home).get("log_file") or default_log_file(home, kind))


scope_option = click.option("--user/--system", "user_scope", default=None,
                            help="Which installation (default: the system's if there is one, else the user's).")


def _status_command(kind: str) -> click.Command:
    def human(d):
        where = f" ({d['manager']} {d['scope']} service {d['service_file']})" if d["installed"] else ""
        click.echo(f"{d['service']}: {d['state']}{where}")
        for key in ("config", "log_file", "home", "name", "agent_id", "coordinator"):
            if d.get(key):
                click.echo(f"  {key.replace('_', ' ')}: {d[key]}")

    @click.command("status")
    @scope_option
    @render.output(human)
    @click.pass_obj
    def status(obj, user_scope):
        spec, manager = _installed(kind, obj.env, user_scope)
        installed = manager.installed_file()
        home = home_from_env(obj.env)
        config = _config_of(kind, home)
        data = {"service": spec.name, "platform": spec.platform, "manager": manager.manager_name,
                "scope": spec.scope, "installed": installed is not None,
                "state": manager.state() if installed else "not installed",
                "service_file": str(installed or ""), "config": str(home / f"{kind}.toml") if config else "",
                "log_file": str(_log_file(kind, obj.env)), "home": str(home)}
        if kind == "agent":
            agent_home = Path(config.get("home") or home / "agent")
            identity = agent_home / "agent.json"
            data.update(name=config.get("name", ""), coordinator=config.get("coordinator_address", ""),
                        agent_id=json.loads(identity.read_text()).get("id", "") if identity.is_file() else "")
        return data
    status.help = f"Whether the {kind} service is installed and running, and where its files are."
    return status


def _uninstall_command(kind: str) -> click.Command:
    @click.command("uninstall")
    @scope_option
    @render.output(lambda d: click.echo(f"removed {d['service']} ({', '.join(d['removed'])}); kept {d['kept']}"))
    @click.pass_obj
    def uninstall(obj, user_scope):
        spec, manager = _installed(kind, obj.env, user_scope)
        if manager.installed_file() is None:
            raise NotFound(f"{spec.name} is not installed as a service here "
                           f"(no {manager.where(manager.service_file().path)})")
        removed = manager.uninstall()
        return {"service": spec.name, "removed": [str(p) for p in removed],
                "kept": f"{spec.home} (config, logs{', identity' if kind == 'agent' else ', registry'})"}
    uninstall.help = (f"Stop the {kind} service and remove it from the service manager; the config, logs "
                      "and identity in LLMESH_HOME stay, so installing again picks up where it was.")
    return uninstall


def _logs_command(kind: str) -> click.Command:
    @click.command("logs")
    @click.option("-n", "--lines", type=int, default=50, show_default=True, help="Show this many last lines.")
    @click.option("-f", "--follow", is_flag=True, help="Keep printing lines as they are logged (Ctrl-C stops).")
    @click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help=f"The log file (default: the installed config's log_file, else LLMESH_HOME/logs/{kind}.log).")
    @click.pass_obj
    def logs(obj, lines, follow, path):
        path = path or _log_file(kind, obj.env)
        if lines < 0:
            raise InvalidArgument(f"--lines {lines}: must be 0 or more")
        if not path.is_file():
            raise NotFound(f"no log file at {path} yet (has the {kind} started with this LLMESH_HOME?)")
        try:
            for line in tail(path, lines):
                click.echo(line)
            if follow:
                for line in follow_file(path):
                    click.echo(line)
        except OSError as exc:
            raise FailedPrecondition(f"cannot read {path}: {exc.strerror or exc}") from None
    logs.help = f"Print the end of the {kind}'s rotating log file."
    return logs


agent_status, coordinator_status = _status_command("agent"), _status_command("coordinator")
agent_uninstall, coordinator_uninstall = _uninstall_command("agent"), _uninstall_command("coordinator")
agent_logs, coordinator_logs = _logs_command("agent"), _logs_command("coordinator")
