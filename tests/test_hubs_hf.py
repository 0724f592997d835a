"""`meshctl models pull hf.co/ORG/REPO[:REV][/FILE] --to HOST`: the agent on HOST downloads through
huggingface_hub into that host's real HF cache, at the commit the revision resolved to, every file
checked against what the Hub publishes, and registers it with its source; `meshctl models push …
hf.co/ORG/REPO` uploads a version from the agent holding it; `meshctl hub login hf --host H` gives
one agent a token through the coordinator. The Hub here is a STAND-IN (tests/hf_standin.py): the
live Hub cannot be reached from the tests."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_gguf
from hf_standin import HubStandIn


@pytest.fixture
def hub():
    standin = HubStandIn()
    yield standin
    standin.stop()


def hf_env(hub, home):
    # Without Xet: the stand-in speaks the Hub's LFS upload protocol, not Xet's storage service.
    return {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1"}


def offline_snapshot(hub, hf_home: Path, repo: str) -> subprocess.CompletedProcess:
    """A plain huggingface_hub on that host, offline: what transformers, vLLM, llama.cpp find."""
    return subprocess.run(
        [sys.executable, "-c", f"from huggingface_hub import snapshot_download; "
         f"print(snapshot_download({repo!r}, local_files_only=True))"],
        env={**hf_env(hub, hf_home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)


def login_on(mesh, host: str, secret: str, *args: str) -> subprocess.CompletedProcess:
    return mesh.meshctl("hub", "login", "hf", "--host", host, *args, check=False, input=secret + "\n")


def test_pull_a_repo_into_the_hosts_hf_cache_then_spread_it(mesh, tmp_path, hub):
    gguf = make_gguf(tmp_path / "src" / "tiny.gguf", seed=3).read_bytes()
    config = json.dumps({"architectures": ["LlamaForCausalLM"]}).encode()
    commit = hub.add_commit("org/tiny-GGUF", {"tiny-Q8_0.gguf": gguf, "README.md": b"# tiny\n",
                                               "config.json": config})
    mesh.start_coordinator()
    for h in ("vm", "mac"):
        (tmp_path / f"root-{h}").mkdir()
        mesh.start_agent(h, [tmp_path / f"root-{h}"], env=hf_env(hub, tmp_path / f"hf-{h}"))
        mesh.wait_host(h)

    job = json.loads(mesh.meshctl("models", "pull", "hf.co/org/tiny-GGUF", "--to", "vm", "--wait", "--json",
                                  timeout=300).stdout)
    assert job["state"] == "done", job
    info = mesh.json("models", "info", job["ref"])
    assert info["name"] == "org/tiny-GGUF"
    assert info["tags"]["hub.source"] == "hf.co/org/tiny-GGUF"
    assert info["tags"]["hub.digest"] == f"hf.co/org/tiny-GGUF@{commit}"  # the commit `main` resolved to
    assert hub.lfs_bytes_served == len(gguf)

    # The host's real HF cache holds it: a plain huggingface_hub finds it offline.
    found = subprocess.run(
        [sys.executable, "-c", "from huggingface_hub import snapshot_download; "
         "print(snapshot_download('org/tiny-GGUF', local_files_only=True))"],
        env={**hf_env(hub, tmp_path / "hf-vm"), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    snapshot = found.stdout.strip()
    assert snapshot.endswith(f"models--org--tiny-GGUF/snapshots/{commit}")
    assert open(f"{snapshot}/tiny-Q8_0.gguf", "rb").read() == gguf

    # Pulled once: the second host gets it from vm, no LFS byte from the Hub.
    second = json.loads(mesh.meshctl("models", "pull", "hf.co/org/tiny-GGUF", "--to", "mac", "--wait", "--json",
                                     timeout=300).stdout)
    assert second["state"] == "done" and second["sources"] == ["vm"] and second["ref"] == job["ref"]
    assert hub.lfs_bytes_served == len(gguf)


def test_one_file_of_a_repo_at_a_revision_and_clear_errors(mesh, tmp_path, hub):
    a = make_gguf(tmp_path / "src" / "a.gguf", seed=4).read_bytes()
    b = make_gguf(tmp_path / "src" / "b.gguf", seed=5).read_bytes()
    hub.add_commit("org/two", {"a-Q8_0.gguf": a, "b-F16.gguf": b}, revision="v1")
    hub.add_commit("org/private", {"m.gguf": a})
    hub.gated["org/private"] = "hf_secret"
    mesh.start_coordinator()
    (tmp_path / "r").mkdir()
    mesh.start_agent("vm", [tmp_path / "r"], env=hf_env(hub, tmp_path / "hf"))
    mesh.wait_host("vm")
    job = json.loads(mesh.meshctl("models", "pull", "hf.co/org/two:v1/b-F16.gguf", "--to", "vm", "--wait",
                                  "--json", timeout=300).stdout)
    assert job["state"] == "done"
    assert hub.lfs_bytes_served == len(b)  # only the file asked for
    job = json.loads(mesh.meshctl("models", "pull", "hf.co/org/two:v1", "--include", "*Q8_0.gguf", "--to", "vm",
                                  "--wait", "--json", timeout=300).stdout)
    assert job["state"] == "done"
    assert hub.lfs_bytes_served == len(b) + len(a)  # --include: one GGUF out of the repo

    for ref, words in (("hf.co/org/nothing", "no such repository"), ("hf.co/org/two:v9", "no revision 'v9'"),
                       ("hf.co/org/private", "refused access"), ("hf.co/org/two:v1/c.gguf", "no file")):
        result = mesh.meshctl("models", "pull", ref, "--to", "vm", "--wait", "--json", check=False, timeout=120)
        assert result.returncode != 0 and words in result.stderr, (ref, result.stderr)
        assert "Traceback" not in result.stderr and "hf_secret" not in result.stderr


def test_push_a_version_to_a_hub_repo_and_pull_it_back(mesh, tmp_path, hub):
    hub.writers.add("hf_write_7f2a")
    mesh.start_coordinator()
    trainer, mac = tmp_path / "trainer", tmp_path / "mac"
    gguf = make_gguf(trainer / "tiny-q" / "tiny-q.gguf", seed=21).read_bytes()
    mac.mkdir()
    mesh.start_agent("trainer", [trainer], env=hf_env(hub, tmp_path / "hf-trainer"))
    mesh.start_agent("mac", [mac], env=hf_env(hub, tmp_path / "hf-mac"))
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: any(r["name"] == "tiny-q" for r in rows))
    original = mesh.json("models", "info", "tiny-q")

    # No token on the holder: one line, nothing created on the Hub.
    result = mesh.meshctl("models", "push", "tiny-q", "hf.co/team/tiny-q", check=False, timeout=120)
    assert result.returncode != 0 and "no Hugging Face token" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "team/tiny-q" not in hub.repos
    # A token the Hub refuses (403): one line.
    assert login_on(mesh, "trainer", "hf_read_only").returncode == 0
    result = mesh.meshctl("models", "push", "tiny-q", "hf.co/team/tiny-q", check=False, timeout=120)
    assert result.returncode != 0 and "refused the upload (403)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "hf_read_only" not in result.stderr

    assert login_on(mesh, "trainer", "hf_write_7f2a").returncode == 0
    pushed = mesh.json("models", "push", "tiny-q", "hf.co/team/tiny-q", "--from", "trainer", timeout=120)
    assert pushed["host"] == "trainer" and pushed["to"] == "hf.co/team/tiny-q"
    commit = pushed["manifest_digest"]
    assert hub.repos["team/tiny-q"]["refs"]["main"] == commit
    assert hub.repos["team/tiny-q"]["files"][commit] == {"tiny-q.gguf": gguf}
    assert hub.lfs_bytes_received == len(gguf) and pushed["bytes_sent"] == len(gguf)
    again = mesh.json("models", "push", "tiny-q", "hf.co/team/tiny-q", timeout=120)
    assert again["blobs_sent"] == 0 and again["blobs_skipped"] == 1 and again["manifest_digest"] == commit
    assert hub.lfs_bytes_received == len(gguf)  # the repo has it: not sent again
    dev = mesh.json("models", "push", "tiny-q", "hf.co/team/tiny-q:dev", timeout=120)  # a branch, made
    assert dev["to"] == "hf.co/team/tiny-q:dev" and hub.repos["team/tiny-q"]["refs"]["dev"] == dev["manifest_digest"]

    # Pulled back onto another host: byte-exact, in that host's HF cache, the same version.
    job = json.loads(mesh.meshctl("models", "pull", "hf.co/team/tiny-q", "--to", "mac", "--wait", "--json",
                                  timeout=300).stdout)
    assert job["state"] == "done", job
    info = mesh.json("models", "info", job["ref"])
    assert info["digest"] == original["digest"]
    assert info["tags"]["hub.digest"] == f"hf.co/team/tiny-q@{commit}"
    found = offline_snapshot(hub, tmp_path / "hf-mac", "team/tiny-q")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().endswith(f"models--team--tiny-q/snapshots/{commit}")
    assert Path(found.stdout.strip(), "tiny-q.gguf").read_bytes() == gguf

    result = mesh.meshctl("models", "push", "tiny-q", "hf.co/team/tiny-q/x.gguf", check=False)
    assert result.returncode != 0 and "not a file of it" in result.stderr and "Traceback" not in result.stderr


def test_hub_login_through_the_coordinator_reaches_that_agent_only(mesh, tmp_path, hub):
    gguf = make_gguf(tmp_path / "src" / "p.gguf", seed=22).read_bytes()
    hub.add_commit("org/private", {"p.gguf": gguf})
    hub.add_commit("org/private2", {"p.gguf": gguf + b"2"})
    secret = "hf_s3cr3t_4e1d9a"
    hub.gated["org/private"] = hub.gated["org/private2"] = secret
    mesh.start_coordinator()
    for h in ("vm", "mac"):
        (tmp_path / f"root-{h}").mkdir()
        mesh.start_agent(h, [tmp_path / f"root-{h}"], env=hf_env(hub, tmp_path / f"hf-{h}"))
        mesh.wait_host(h)

    result = mesh.meshctl("models", "pull", "hf.co/org/private", "--to", "vm", "--wait", "--json", check=False,
                          timeout=120)
    assert result.returncode != 0 and "refused access" in result.stderr

    login = login_on(mesh, "vm", secret, "--json")
    assert login.returncode == 0, login.stderr
    stored = json.loads(login.stdout)
    assert stored["host"] == "vm" and stored["hub"] == "hf"
    path = Path(stored["path"])
    assert path.parent == mesh.base / "agent-vm" / "agent"
    assert json.loads(path.read_text())["hf"] == {"token": secret}  # as `hub login` run on vm writes it
    assert path.stat().st_mode & 0o777 == 0o600

    job = json.loads(mesh.meshctl("models", "pull", "hf.co/org/private", "--to", "vm", "--wait", "--json",
                                  timeout=300).stdout)
    assert job["state"] == "done", job
    # The other agent has no token: its own pull of a gated repo is still refused.
    result = mesh.meshctl("models", "pull", "hf.co/org/private2", "--to", "mac", "--wait", "--json", check=False,
                          timeout=120)
    assert result.returncode != 0 and "refused access" in result.stderr

    # The audit log says who, which host, which hub; the secret is nowhere but vm's credential file.
    events = [e for e in mesh.json("audit") if e["action"] == "hub.login"]
    assert len(events) == 1 and events[0]["resource"] == "vm" and events[0]["detail"] == {"hub": "hf"}

    # Bad input: one line each.
    for args, words in ((("hf", "--host", "nowhere"), "nowhere"), (("bad host!", "--host", "vm"), "invalid registry"),
                        (("hf", "--host", "vm", "--username", "u"), "--username")):
        result = mesh.meshctl("hub", "login", *args, check=False, input="x\n")
        assert result.returncode != 0 and words in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1

    mesh.close()  # stopped: the coordinator's database and logs as they stay on disk
    holders = [p for p in mesh.base.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert holders == [path]
    assert (mesh.base / "coord-home").is_dir() and (mesh.base / "agent-mac").is_dir()  # searched, not absent
