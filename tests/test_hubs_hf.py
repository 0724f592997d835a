"""`meshctl models pull hf.co/ORG/REPO[:REV][/FILE] --to HOST`: the agent on HOST downloads through
huggingface_hub into that host's real HF cache, at the commit the revision resolved to, every file
checked against what the Hub publishes, and registers it with its source. The Hub here is a
STAND-IN (tests/hf_standin.py): the live Hub cannot be reached from the tests."""
import json
import subprocess
import sys

import pytest
from factories import make_gguf
from hf_standin import HubStandIn


@pytest.fixture
def hub():
    standin = HubStandIn()
    yield standin
    standin.stop()


def hf_env(hub, home):
    return {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}


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
