"""llmesh as a service: `meshctl agent|coordinator install` and the files it writes, `--config`,
and the rotating log file.

What runs for real here: the coordinator and agents, started from the exact command line
(argv, environment, working directory) read back from each generated service file; the
systemd unit through `systemd-analyze verify`. What cannot run here is stood in for, and
each test says so: this machine has no systemd as PID 1 (a container), no launchd and no
Windows SCM, so the service managers' *commands* are recorded (LLMESH_SERVICE_STANDIN)
and the test itself starts what the manager would start.
"""
from __future__ import annotations

import json
import os
import plistlib
import shlex
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from factories import make_hf_model
from harness import REPO, Proc, free_port, wait_for

from llmesh.common.errors import InvalidArgument

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def _env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMESH_", "HF_", "OLLAMA_", "CUDA_"))}
    env.update(LLMESH_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def _meshctl(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "llmesh.cli", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"meshctl {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _dry_run_files(stdout: str) -> dict[str, str]:
    """`--dry-run` output: `# FILE: <path>` lines, each followed by that file's content."""
    files: dict[str, str] = {}
    current = None
    for line in stdout.splitlines(keepends=True):
        if line.startswith("# FILE: "):
            current = line[len("# FILE: "):].rstrip("\n")
            files[current] = ""
        else:
            assert current is not None, f"content before the first # FILE: line: {line!r}"
            files[current] += line
    return files


def _unit_command(unit: str) -> tuple[list[str], dict, str]:
    """ExecStart's argv, the Environment= variables and WorkingDirectory of a unit, as systemd reads them."""
    def unescape(word: str) -> str:
        return word.replace("%%", "%").replace("$$", "$")
    argv, env, cwd = [], {}, ""
    for line in unit.splitlines():
        key, _, value = line.partition("=")
        if key == "ExecStart":
            argv = [unescape(w) for w in shlex.split(value)]
        elif key == "Environment":
            for word in shlex.split(value):
                name, _, val = unescape(word).partition("=")
                env[name] = val
        elif key == "WorkingDirectory":
            cwd = unescape(value)
    return argv, env, cwd


def _verify_unit(path: Path) -> None:
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def _start(argv: list[str], env: dict, cwd: str, log: Path) -> Proc:
    """Start a service's command line as its manager would: that argv, only that environment
    (plus PATH and PYTHONUNBUFFERED), in that working directory."""
    full_env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", **env}
    return Proc(argv[1:], full_env, log, command=argv[:1], cwd=Path(cwd))


def _hosts(coord_home: Path) -> list[dict]:
    return json.loads(_meshctl(_env(coord_home), "hosts", "--json").stdout)


def _wait_host(coord_home: Path, name: str, logs=()) -> dict:
    return wait_for(lambda: next((h for h in _hosts(coord_home) if h["name"] == name and h["status"] == "online"),
                                 None), 60, f"host {name} online", logs=logs)


def _token(coord_home: Path) -> str:
    return _meshctl(_env(coord_home), "token", "create", "--ttl", "10m").stdout.strip()


def _tree(path: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.rglob("*"))} if path.exists() else {}


@pytest.fixture
def coordinator(tmp_path):
    """A coordinator run as a test process (the services under test are the agents)."""
    home = tmp_path / "coord-home"
    home.mkdir()
    proc = Proc(["coordinator", "serve", "--listen", f"127.0.0.1:{free_port()}",
                 "--link-listen", f"127.0.0.1:{free_port()}"], _env(home), tmp_path / "coordinator.log")
    endpoint = wait_for(lambda: json.loads((home / "coordinator.json").read_text()), 30, "coordinator endpoint",
                        logs=[proc.log])
    yield home, endpoint["address"]
    proc.stop()


def test_config_file_values_are_used_flags_override_them_and_unknown_keys_fail(coordinator, tmp_path):
    coord_home, address = coordinator
    make_hf_model(tmp_path / "models" / "tiny")
    home = tmp_path / "agent-home"
    config = tmp_path / "agent.toml"
    config.write_text(f'coordinator = "{address}"\nroot = ["models"]\nname = "from-file"\n'
                      f'label = ["rack=r1"]\nheartbeat = 0.5\nreconnect-max = 1\ntoken = "{_token(coord_home)}"\n')
    agent = Proc(["agent", "run", "--config", str(config), "--name", "from-flag"], _env(home),
                 tmp_path / "agent.log", cwd=tmp_path / "models")  # relative paths: from the file's folder
    try:
        host = _wait_host(coord_home, "from-flag", logs=[agent.log])
        assert "from-file" not in {h["name"] for h in _hosts(coord_home)}
        assert "rack" in json.dumps(host["labels"]) and "r1" in json.dumps(host["labels"])
        assert [r["path"] for r in host["roots"]] == [str((tmp_path / "models").resolve())]
    finally:
        agent.stop()

    for text, words in [('coordinator = "127.0.0.1:1"\nroot = ["."]\nbogus = 1\n', ["unknown key 'bogus'"]),
                        ('coordinator = "127.0.0.1:1"\nheartbeat = "fast"\n', ["'heartbeat'", "number"]),
                        ('coordinator = "127.0.0.1:1"\nroot = [1]\n', ["'root'", "string"]),
                        ('coordinator = [\n', ["not valid TOML"])]:
        config.write_text(text)
        result = _meshctl(_env(home), "agent", "run", "--config", str(config), check=False)
        assert result.returncode == 1, result
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert str(config) in result.stderr and all(w in result.stderr for w in words), result.stderr
    result = _meshctl(_env(home), "coordinator", "serve", "--config", str(tmp_path / "missing.toml"), check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "missing.toml" in result.stderr


def test_log_file_appears_private_rotates_and_meshctl_logs_tails_it(coordinator, tmp_path):
    coord_home, address = coordinator
    home = tmp_path / "home"
    make_hf_model(tmp_path / "models" / "tiny")
    # Every rescan logs a line: rescanning often fills a 1 KiB log file quickly.
    agent = Proc(["agent", "run", "--coordinator", address, "--token", _token(coord_home), "--name", "logger",
                  "--root", str(tmp_path / "models"), "--rescan-interval", "0.1", "--log-max-bytes", "1024",
                  "--log-backups", "2"], _env(home), tmp_path / "stderr.log")
    log = home / "logs" / "agent.log"
    try:
        wait_for(lambda: (home / "logs" / "agent.log.2").exists(), 60, "two rotated log files", logs=[agent.log])
    finally:
        agent.stop()
    for path in (log, home / "logs" / "agent.log.1", home / "logs" / "agent.log.2"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.stat().st_size <= 1024 + 200, path  # rotated before a line took it past the limit
    assert not (home / "logs" / "agent.log.3").exists()  # --log-backups 2
    assert "scan:" in agent.log.read_text()  # stderr still gets the log too

    logged = [line for path in (home / "logs" / "agent.log.2", home / "logs" / "agent.log.1", log)
              for line in path.read_text().splitlines()]
    for n in (1, 3, 12):  # reaching back into the rotated copies when the current file is short
        assert _meshctl(_env(home), "agent", "logs", "-n", str(n)).stdout.splitlines() == logged[-n:]
    missing = _meshctl(_env(tmp_path / "elsewhere"), "agent", "logs", check=False)
    assert missing.returncode == 1 and "no log file" in missing.stderr and missing.stderr.count("\n") == 1


def test_systemd_services_from_their_units_run_a_coordinator_and_an_agent_that_joins(tmp_path):
    # Stand-in: no systemd runs in this container; the install records systemctl's commands and
    # this test starts each unit's ExecStart, Environment and WorkingDirectory itself.
    standin = tmp_path / "systemd-standin"
    coord_home, agent_home = tmp_path / "coord-home", tmp_path / "agent-home"
    api, link = free_port(), free_port()
    coord_env = _env(coord_home, LLMESH_SERVICE_STANDIN=str(standin))
    _meshctl(coord_env, "coordinator", "install", "--listen", f"127.0.0.1:{api}", "--link-listen",
             f"127.0.0.1:{link}")
    coord_unit = standin / "etc/systemd/system/llmesh-coordinator.service"
    argv, env, cwd = _unit_command(coord_unit.read_text())
    assert argv == [sys.executable, "-m", "llmesh.cli", "coordinator", "serve", "--config",
                    str(coord_home / "coordinator.toml")]
    assert env["LLMESH_HOME"] == str(coord_home) and cwd == str(coord_home)
    coordinator = _start(argv, env, cwd, tmp_path / "coordinator.log")
    procs = [coordinator]
    try:
        wait_for(lambda: (coord_home / "coordinator.json").exists(), 30, "coordinator", logs=[coordinator.log])
        assert stat.S_IMODE((coord_home / "logs" / "coordinator.log").stat().st_mode) == 0o600
        make_hf_model(tmp_path / "models" / "tiny")
        agent_env = _env(agent_home, LLMESH_SERVICE_STANDIN=str(standin), HF_HOME=str(tmp_path / "hf"),
                         CUDA_VISIBLE_DEVICES="1")
        first = _meshctl(agent_env, "agent", "install", "--coordinator", f"127.0.0.1:{api}",
                         "--token", _token(coord_home), "--root", str(tmp_path / "models"), "--name", "svc",
                         "--heartbeat", "0.5", "--reconnect-max", "1", "--env", "EXTRA=a b%c")
        assert "Joined the mesh as svc" in first.stdout
        unit = standin / "etc/systemd/system/llmesh-agent.service"
        if SYSTEMD_ANALYZE:
            _verify_unit(coord_unit)
            _verify_unit(unit)
        argv, env, cwd = _unit_command(unit.read_text())
        assert argv == [sys.executable, "-m", "llmesh.cli", "agent", "run", "--config",
                        str(agent_home / "agent.toml")]
        assert env == {"LLMESH_HOME": str(agent_home), "HF_HOME": str(tmp_path / "hf"),
                       "CUDA_VISIBLE_DEVICES": "1", "EXTRA": "a b%c"}
        agent = _start(argv, env, cwd, tmp_path / "agent-1.log")
        procs.append(agent)
        host_id = _wait_host(coord_home, "svc", logs=[agent.log, coordinator.log])["id"]
        agent.stop()
        commands = (standin / "commands.log").read_text().splitlines()
        assert commands[-3:] == ["systemctl daemon-reload", "systemctl enable llmesh-agent.service",
                                 "systemctl restart llmesh-agent.service"]

        # Installing again (an upgrade): no token, no new join, the same identity; new flags
        # change the config and the rest of it stays.
        again = _meshctl(agent_env, "agent", "install", "--heartbeat", "0.7", "--scrub-share", "0.5")
        assert "Kept the agent's identity" in again.stdout
        assert 'heartbeat = 0.7' in (agent_home / "agent.toml").read_text()
        assert 'scrub_share = 0.5' in (agent_home / "agent.toml").read_text()
        assert 'name = "svc"' in (agent_home / "agent.toml").read_text()
        argv, env, cwd = _unit_command(unit.read_text())
        agent = _start(argv, env, cwd, tmp_path / "agent-2.log")
        procs.append(agent)
        assert _wait_host(coord_home, "svc", logs=[agent.log])["id"] == host_id
        assert [h["id"] for h in _hosts(coord_home)] == [host_id]

        status = json.loads(_meshctl(agent_env, "agent", "status", "--json").stdout)
        assert status["installed"] and status["scope"] == "system" and status["manager"] == "systemd"
        assert status["agent_id"] == host_id and status["name"] == "svc"
        assert status["service_file"] == str(unit) and status["log_file"] == str(agent_home / "logs/agent.log")
        assert (agent_home / "logs" / "agent.log").is_file()
        tail = _meshctl(agent_env, "agent", "logs", "-n", "2").stdout.splitlines()
        assert tail and tail == (agent_home / "logs" / "agent.log").read_text().splitlines()[-2:]
        removed = json.loads(_meshctl(agent_env, "agent", "uninstall", "--json").stdout)
        assert removed["removed"] == [str(unit)] and not unit.exists()
        assert (agent_home / "agent" / "agent.pem").exists()  # the identity stays
        assert not json.loads(_meshctl(agent_env, "agent", "status", "--json").stdout)["installed"]
        gone = _meshctl(agent_env, "agent", "uninstall", check=False)
        assert gone.returncode == 1 and "not installed" in gone.stderr
    finally:
        for proc in reversed(procs):
            if proc.alive():
                proc.stop()


def test_launchd_plist_runs_the_same_command_line_and_joins(coordinator, tmp_path):
    # Stand-in: no launchd here. The plist is rendered for macOS with this interpreter and a
    # POSIX home, so its ProgramArguments run on this machine exactly as written.
    coord_home, address = coordinator
    home = tmp_path / "agent-home"
    make_hf_model(tmp_path / "models" / "tiny")
    args = ["agent", "install", "--dry-run", "--coordinator", address, "--root", str(tmp_path / "models"),
            "--name", "mac", "--heartbeat", "0.5", "--python", sys.executable]
    env = _env(home, OLLAMA_MODELS=str(tmp_path / "ollama"))
    mac = _dry_run_files(_meshctl(env, *args, "--platform", "macos").stdout)
    linux = _dry_run_files(_meshctl(env, *args, "--platform", "linux").stdout)
    plist_path = "/Library/LaunchDaemons/llmesh.agent.plist"
    assert set(mac) == {str(home / "agent.toml"), plist_path}
    plist = plistlib.loads(mac[plist_path].encode())
    unit_argv, unit_env, _ = _unit_command(linux["/etc/systemd/system/llmesh-agent.service"])
    assert plist["ProgramArguments"] == unit_argv
    assert plist["EnvironmentVariables"] == unit_env == {"LLMESH_HOME": str(home),
                                                         "OLLAMA_MODELS": str(tmp_path / "ollama")}
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True and plist["Label"] == "llmesh.agent"
    assert plist["StandardErrorPath"] == str(home / "logs" / "agent.stderr.log")
    user = _dry_run_files(_meshctl(env, *args, "--platform", "macos", "--user").stdout)
    assert "~/Library/LaunchAgents/llmesh.agent.plist" in user  # another platform's home: left to that host

    # Write what install would have written, join as install would have, and run the plist's command.
    (home / "agent.toml").parent.mkdir(parents=True)
    (home / "agent.toml").write_text(mac[str(home / "agent.toml")])
    _meshctl(env, "agent", "join", address, "--token", _token(coord_home), "--name", "mac")
    agent = _start(plist["ProgramArguments"], plist["EnvironmentVariables"], plist["WorkingDirectory"],
                   tmp_path / "agent.log")
    try:
        _wait_host(coord_home, "mac", logs=[agent.log])
    finally:
        agent.stop()


def _winsw(stdout: str) -> tuple[dict, ET.Element]:
    files = _dry_run_files(stdout)
    xml_path = next(p for p in files if p.endswith(".xml"))
    return files, ET.fromstring(files[xml_path])


def test_winsw_xml_command_line_account_and_recovery(tmp_path):
    env = _env(Path("x"), HF_HOME=r"D:\hf", CUDA_VISIBLE_DEVICES="0")
    env["LLMESH_HOME"] = r"C:\llmesh"
    python = r"C:\llmesh\venv\Scripts\python.exe"
    args = ["agent", "install", "--dry-run", "--platform", "windows", "--coordinator", "coord:7440",
            "--root", r"D:\hafs_training\models", "--root", r"\\nas\models", "--name", "windows",
            "--python", python, "--env", "OLLAMA_HOST=127.0.0.1:11434"]
    files, xml = _winsw(_meshctl(env, *args).stdout)
    assert set(files) == {r"C:\llmesh\agent.toml", r"C:\llmesh\service\llmesh-agent.xml"}
    assert r'root = ["D:\\hafs_training\\models", "\\\\nas\\models"]' in files[r"C:\llmesh\agent.toml"]
    assert xml.findtext("id") == "llmesh-agent"
    assert xml.findtext("executable") == python
    assert [a.text for a in xml.findall("argument")] == ["-m", "llmesh.cli", "agent", "run", "--config",
                                                        r"C:\llmesh\agent.toml"]
    assert xml.findtext("workingdirectory") == r"C:\llmesh"
    assert xml.findtext("startmode") == "Automatic"
    assert [(f.get("action"), f.get("delay")) for f in xml.findall("onfailure")] == [
        ("restart", "10 sec"), ("restart", "30 sec"), ("restart", "60 sec")]
    assert xml.findtext("resetfailure") == "1 hour"
    assert xml.findtext("serviceaccount/user") == "LocalSystem" and xml.find("serviceaccount/password") is None
    assert {e.get("name"): e.get("value") for e in xml.findall("env")} == {
        "LLMESH_HOME": r"C:\llmesh", "HF_HOME": r"D:\hf", "CUDA_VISIBLE_DEVICES": "0",
        "OLLAMA_HOST": "127.0.0.1:11434"}
    assert xml.find("log").get("mode") == "roll-by-size" and xml.findtext("logpath") == r"C:\llmesh\logs"

    env.update(USERDOMAIN="HAFS", USERNAME="trainer")
    _, user_xml = _winsw(_meshctl(env, *args, "--user").stdout)
    account = user_xml.find("serviceaccount")
    assert (account.findtext("domain"), account.findtext("user"), account.findtext("allowservicelogon")) == (
        "HAFS", "trainer", "true")
    assert account.find("password") is None  # never written: WinSW asks for it at install

    no_home = _meshctl(_env(tmp_path) | {"LLMESH_HOME": ""}, *args, check=False)
    assert no_home.returncode == 1 and "LLMESH_HOME" in no_home.stderr
    real = _meshctl(env, *[a for a in args if a != "--dry-run"], check=False)
    assert real.returncode == 1 and "only --dry-run" in real.stderr and real.stderr.count("\n") == 1


def test_winsw_command_line_joins_a_real_coordinator(coordinator, tmp_path):
    # Stand-in: no Windows SCM or WinSW here. The XML is rendered for Windows with this
    # interpreter; its Windows-form paths (the --config argument, LLMESH_HOME) are the only
    # thing translated back to this machine's form before its command line is started.
    coord_home, address = coordinator
    home = tmp_path / "agent-home"
    make_hf_model(tmp_path / "models" / "tiny")
    env = _env(home)
    files, xml = _winsw(_meshctl(env, "agent", "install", "--dry-run", "--platform", "windows",
                                 "--coordinator", address, "--root", str(tmp_path / "models"), "--name", "win",
                                 "--heartbeat", "0.5", "--python", sys.executable).stdout)
    posix = lambda p: p.replace("\\", "/")  # noqa: E731
    argv = [xml.findtext("executable")] + [a.text for a in xml.findall("argument")]
    assert argv[:-1] == [sys.executable, "-m", "llmesh.cli", "agent", "run", "--config"]
    argv[-1] = posix(argv[-1])
    service_env = {e.get("name"): posix(e.get("value")) for e in xml.findall("env")}
    config = next(p for p in files if p.endswith("agent.toml"))
    assert posix(config) == argv[-1] == str(home / "agent.toml")
    home.mkdir()
    Path(argv[-1]).write_text(files[config])
    _meshctl(env, "agent", "join", address, "--token", _token(coord_home), "--name", "win")
    agent = _start(argv, service_env, posix(xml.findtext("workingdirectory")), tmp_path / "agent.log")
    try:
        _wait_host(coord_home, "win", logs=[agent.log])
    finally:
        agent.stop()


def test_dry_run_writes_nothing(tmp_path):
    home, standin = tmp_path / "home", tmp_path / "standin"
    home.mkdir()
    (home / "keep.txt").write_text("x")
    make_hf_model(tmp_path / "models" / "tiny")
    env = _env(home, LLMESH_SERVICE_STANDIN=str(standin))
    before, system_unit = _tree(home), Path("/etc/systemd/system/llmesh-agent.service")
    existed = system_unit.exists()
    for kind, extra in [("agent", ["--coordinator", "127.0.0.1:1", "--token", "K10x::y", "--root",
                                   str(tmp_path / "models")]), ("coordinator", [])]:
        for platform in ("linux", "macos", "windows"):
            result = _meshctl(env, kind, "install", "--dry-run", "--platform", platform, *extra)
            files = _dry_run_files(result.stdout)
            assert len(files) == 2 and all(content.strip() for content in files.values())
            assert "would run:" in result.stderr
    assert _tree(home) == before and not standin.exists() and system_unit.exists() == existed


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="systemd runs here: a real install would work")
def test_install_without_a_service_manager_fails_in_one_line_and_writes_nothing(tmp_path):
    home = tmp_path / "home"
    make_hf_model(tmp_path / "models" / "tiny")
    result = _meshctl(_env(home), "agent", "install", "--coordinator", "127.0.0.1:1", "--token", "K10x::y",
                      "--root", str(tmp_path / "models"), check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "systemd is not running" in result.stderr and "--dry-run" in result.stderr
    assert not home.exists() and not Path("/etc/systemd/system/llmesh-agent.service").exists()


def test_numeric_options_take_numbers_in_a_config_file(tmp_path):
    # What install writes for a ranged option (--blob-port, --hook-attempts, --hook-backoff) is a
    # TOML number: the service reading that file must take it.
    from llmesh.cli import serve
    from llmesh.cli.config_option import config_keys
    from llmesh.common.config_file import check_config, read_config

    for command, text, expected in [
            (serve.run, "blob_port = 9000\nheartbeat = 2\nscrub_share = 0.5\n",
             {"blob_port": 9000, "heartbeat": 2, "scrub_share": 0.5}),
            (serve.serve, "hook_attempts = 3\nhook_backoff = 0.5\n", {"hook_attempts": 3, "hook_backoff": 0.5})]:
        config = tmp_path / f"{command.name}.toml"
        config.write_text(text)
        assert check_config(read_config(config), config_keys(command), config) == expected
        config.write_text(text.replace(" = ", ' = "', 1).replace("\n", '"\n', 1))  # a string is not a number
        with pytest.raises(InvalidArgument, match="must be an integer|must be a number"):
            check_config(read_config(config), config_keys(command), config)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (the Makefile's "
                    "system-packages step installs systemd on Debian as root)")
def test_every_generated_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    make_hf_model(tmp_path / "models" / "tiny")
    env = _env(tmp_path / "home", HF_HOME=str(tmp_path / "hf"))
    for kind, extra in [("agent", ["--coordinator", "127.0.0.1:1", "--token", "K10x::y", "--root",
                                   str(tmp_path / "models"), "--label", "rack=r1", "--env", "EXTRA=a b%c$d"]),
                        ("coordinator", ["--listen", "0.0.0.0:7440", "--http-listen", "127.0.0.1:7443"])]:
        for scope in ("--system", "--user"):
            files = _dry_run_files(_meshctl(env, kind, "install", "--dry-run", "--platform", "linux", scope,
                                            *extra).stdout)
            [(path, unit)] = [(p, c) for p, c in files.items() if p.endswith(".service")]
            written = tmp_path / scope.strip("-") / Path(path).name
            written.parent.mkdir(exist_ok=True)
            written.write_text(unit)
            _verify_unit(written)


def test_install_refuses_what_the_service_would_refuse_and_writes_nothing(tmp_path):
    # Stand-in for systemd as above: a refused install must not leave a unit that fails at each start.
    home, standin = tmp_path / "home", tmp_path / "standin"
    make_hf_model(tmp_path / "models" / "tiny")
    env = _env(home, LLMESH_SERVICE_STANDIN=str(standin))
    agent = ["agent", "install", "--coordinator", "127.0.0.1:1", "--token", "K10x::y", "--root",
             str(tmp_path / "models")]
    for args, words in [(["coordinator", "install", "--listen", "bogus"], "invalid address 'bogus'"),
                        (["coordinator", "install", "--drain", "9999"], "--drain 9999"),
                        ([*agent, "--listen", "nowhere"], "invalid address 'nowhere'"),
                        ([*agent, "--max-upload-rate", "zz"], "--max-upload-rate 'zz'"),
                        ([*agent, "--scrub-rate", "-5"], "--scrub-rate -5"),
                        ([*agent, "--scrub-share", "0"], "--scrub-share 0: must be"),
                        ([*agent, "--scrub-share", "1.5"], "--scrub-share 1.5: must be"),
                        ([*agent, "--quiet-hours", "always"], "--quiet-hours 'always'"),
                        ([*agent, "--heartbeat", "0"], "--heartbeat 0")]:
        for dry_run in ([], ["--dry-run"]):
            result = _meshctl(env, *args, *dry_run, check=False)
            assert result.returncode == 1 and result.stderr.count("\n") == 1, (args, result.stderr)
            assert words in result.stderr and "Traceback" not in result.stderr and not result.stdout, result.stderr
    assert not home.exists() and not standin.exists()


def test_a_pace_that_would_spin_or_a_bad_address_is_refused_before_anything_starts(tmp_path):
    # A heartbeat or rescan with no pause between them would flood the coordinator or the disk.
    home = tmp_path / "home"
    make_hf_model(tmp_path / "models" / "tiny")
    agent = ["agent", "run", "--coordinator", "127.0.0.1:1", "--root", str(tmp_path / "models")]
    up = ["up", "--root", str(tmp_path / "models")]
    for args, words in [([*agent, "--heartbeat", "0"], "--heartbeat 0: must be"),
                        ([*agent, "--rescan-interval", "-1"], "--rescan-interval -1: must be"),
                        ([*agent, "--hash-workers", "0"], "--hash-workers 0: must be"),
                        ([*up, "--heartbeat", "-2"], "--heartbeat -2: must be"),
                        ([*up, "--rescan-interval", "0"], "--rescan-interval 0: must be"),
                        ([*agent, "--scrub-share", "-0.1"], "--scrub-share -0.1: must be"),
                        ([*up, "--scrub-share", "2"], "--scrub-share 2: must be"),
                        ([*up, "--http-listen", "bogus"], "invalid address 'bogus'")]:
        result = _meshctl(_env(home), *args, check=False)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not home.exists()


@pytest.mark.parametrize("platform", ["macos", "windows"])
def test_the_coordinator_service_command_line_serves(platform, tmp_path):
    # Stand-in: no launchd or Windows SCM here. The plist / WinSW XML is rendered with this
    # interpreter and started as its manager would start it (Windows-form paths translated back,
    # as in the agent's WinSW test); an agent joins what it serves.
    home = tmp_path / "coord-home"
    env = _env(home)
    api, link = free_port(), free_port()
    files = _dry_run_files(_meshctl(env, "coordinator", "install", "--dry-run", "--platform", platform, "--python",
                                    sys.executable, "--listen", f"127.0.0.1:{api}", "--link-listen",
                                    f"127.0.0.1:{link}").stdout)
    posix = (lambda p: p.replace("\\", "/")) if platform == "windows" else (lambda p: p)  # noqa: E731
    if platform == "macos":
        plist = plistlib.loads(files["/Library/LaunchDaemons/llmesh.coordinator.plist"].encode())
        argv, service_env, cwd = plist["ProgramArguments"], plist["EnvironmentVariables"], plist["WorkingDirectory"]
    else:
        _, xml = _winsw("".join(f"# FILE: {p}\n{c}" for p, c in files.items()))
        argv = [xml.findtext("executable")] + [a.text for a in xml.findall("argument")]
        service_env = {e.get("name"): e.get("value") for e in xml.findall("env")}
        cwd = xml.findtext("workingdirectory")
    assert argv[:-1] == [sys.executable, "-m", "llmesh.cli", "coordinator", "serve", "--config"]
    config = next(p for p in files if p.endswith("coordinator.toml"))
    assert posix(argv[-1]) == posix(config) == str(home / "coordinator.toml")
    home.mkdir()
    (home / "coordinator.toml").write_text(files[config])
    coordinator = _start([*argv[:-1], posix(argv[-1])], {k: posix(v) for k, v in service_env.items()}, posix(cwd),
                         tmp_path / "coordinator.log")
    try:
        endpoint = wait_for(lambda: json.loads((home / "coordinator.json").read_text()), 30, "the coordinator",
                            logs=[coordinator.log])
        assert endpoint["address"] == f"127.0.0.1:{api}"
        make_hf_model(tmp_path / "models" / "tiny")
        agent = Proc(["agent", "run", "--coordinator", endpoint["address"], "--token", _token(home), "--name", "joiner",
                      "--root", str(tmp_path / "models"), "--heartbeat", "0.5"], _env(tmp_path / "agent-home"),
                     tmp_path / "agent.log")
        try:
            _wait_host(home, "joiner", logs=[agent.log, coordinator.log])
        finally:
            agent.stop()
    finally:
        coordinator.stop()
