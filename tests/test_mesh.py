"""The mesh end to end: a real coordinator and agents as separate processes on
loopback, each with its own home and roots of tiny real models, driven through
the real meshctl."""
import json
import shutil
import signal

from factories import make_gguf, make_hf_cache, make_hf_model, make_ollama_store, make_peft_adapter, make_trainer_output
from harness import free_port, version_of, wait_for


def trainer_root(base):
    root = base / "trainer"
    make_hf_model(root / "tiny-llama", seed=1)
    make_peft_adapter(root / "asm-lora", base="meta-llama/Llama-3.2-1B")
    make_gguf(root / "gguf" / "tiny-f16.gguf", name="tiny", file_type=1)
    make_trainer_output(root / "runs" / "oracle-farore", adapter=True, checkpoints=2)
    return root


def mac_root(base):
    root = base / "mac"
    make_hf_model(root / "shared" / "tiny-llama", seed=1)  # the same bytes as the trainer's
    make_hf_cache(root / "hf-hub", repo_id="org/tiny-llama")
    make_ollama_store(root / "ollama", name="tinyllama", tag="latest")
    return root


def test_two_agents_report_hardware_and_models(mesh, tmp_path):
    mesh.start_coordinator()
    mesh.start_agent("trainer", [trainer_root(tmp_path)])
    mesh.start_agent("mac", [mac_root(tmp_path)])
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    # A host is online from its hello; its disks' figures come with the first heartbeat after it.
    trainer = wait_for(lambda: (h := mesh.wait_host("trainer"))["roots"] and h["roots"][0].get("total_bytes") and h,
                       20, "the trainer's first heartbeat with disk figures", logs=mesh.logs())
    assert trainer["platform"] == "linux" and trainer["cpu_count"] >= 1
    assert trainer["memory_total_bytes"] > 0 and trainer["gpus"] == []
    assert trainer["roots"][0]["total_bytes"] > 0 and trainer["roots"][0]["free_bytes"] > 0

    rows = mesh.wait_models(lambda rows: len(rows) >= 6 and any(len(v["copies"]) == 2 for v in rows),
                            what="both inventories")
    by_name = {v["name"]: v for v in rows}
    assert {"tiny-llama", "asm-lora", "oracle-farore", "org/tiny-llama", "tinyllama"} <= set(by_name), rows
    shared = by_name["tiny-llama"]
    assert {(c["host"], c["state"]) for c in shared["copies"]} == {("trainer", "verified"), ("mac", "verified")}
    assert {c["path"] for c in shared["copies"]} == {str(tmp_path / "trainer" / "tiny-llama"),
                                                      str(tmp_path / "mac" / "shared" / "tiny-llama")}
    assert by_name["asm-lora"]["kind"] == "lora"
    assert by_name["oracle-farore"]["kind"] == "lora"
    assert not any("checkpoint" in v["name"] for v in rows)
    assert by_name["org/tiny-llama"]["source"] == "hf-cache"
    assert by_name["tinyllama"]["kind"] == "gguf" and by_name["tinyllama"]["source"] == "ollama"
    for v in rows:
        assert v["digest"].startswith("sha256:") and v["size_bytes"] > 0

    ggufs = mesh.json("models", "list", "--host", "trainer", "--kind", "gguf")
    assert [v["name"] for v in ggufs] == ["tiny-f16"]
    info = mesh.json("models", "info", "oracle-farore")
    assert info["metadata"]["training"]["global_step"] > 0
    assert all(not f["path"].startswith("checkpoint-") for f in info["files"])
    human = mesh.meshctl("models", "info", "tiny-llama").stdout
    assert "Locations" in human and "trainer" in human and "mac" in human


def test_silent_agent_goes_offline_and_comes_back(mesh, tmp_path):
    mesh.start_coordinator()
    agent = mesh.start_agent("trainer", [trainer_root(tmp_path)])
    mesh.wait_host("trainer")
    agent.signal(signal.SIGSTOP)  # alive, link open, but silent
    mesh.wait_host("trainer", "offline", timeout=15)
    agent.signal(signal.SIGCONT)
    mesh.wait_host("trainer", "online", timeout=15)


def test_coordinator_restart_keeps_registry_and_agents_reconcile(mesh, tmp_path):
    port = free_port()
    coordinator = mesh.start_coordinator(port)
    root = trainer_root(tmp_path)
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: version_of(rows, "tiny-llama") and version_of(rows, "asm-lora"))
    mesh.meshctl("models", "register", str(root / "tiny-llama"), "--host", "trainer", "--name", "llama-ft",
                 "--tag", "production")

    coordinator.stop()
    shutil.rmtree(root / "asm-lora")                      # vanishes while the coordinator is down
    make_peft_adapter(root / "new-lora", r=4, seed=7)     # appears while the coordinator is down
    mesh.start_coordinator(port)
    mesh.wait_host("trainer", timeout=30)

    rows = mesh.wait_models(lambda rows: version_of(rows, "new-lora") and
                            version_of(rows, "asm-lora")["copies"][0]["state"] == "missing",
                            what="reconciled inventory")
    assert version_of(rows, "llama-ft")["tags"] == {"production": "true"}  # survived the restart
    assert version_of(rows, "new-lora")["copies"][0]["state"] == "verified"


def test_a_second_agent_cannot_claim_a_taken_name(mesh, tmp_path):
    mesh.start_coordinator()
    mesh.start_agent("trainer", [trainer_root(tmp_path)])
    first = mesh.wait_host("trainer")
    other_root = tmp_path / "other"
    other_root.mkdir()
    impostor = mesh.start_agent("trainer", [other_root], home=tmp_path / "impostor")
    assert impostor.popen.wait(30) != 0
    assert "already held by another agent" in impostor.output()
    assert "Traceback" not in impostor.output()
    assert mesh.host("trainer")["id"] == first["id"]


def test_register_annotates_and_delete_keeps_files(mesh, tmp_path):
    mesh.start_coordinator()
    root = trainer_root(tmp_path)
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    path = root / "runs" / "oracle-farore"
    result = json.loads(mesh.meshctl(
        "models", "register", str(path), "--host", "trainer", "--name", "oracle-farore-v1",
        "--base", "Qwen/Qwen2.5-Coder-1.5B", "--role", "general", "--tag", "production", "--tag", "stage=2",
        "--json").stdout)
    version = result["version"]
    assert (version["name"], version["version"], version["kind"]) == ("oracle-farore-v1", 1, "lora")
    assert version["roles"] == ["general"] and version["tags"] == {"production": "true", "stage": "2"}
    assert version["base_model"] == "Qwen/Qwen2.5-Coder-1.5B"
    assert version["copies"] == [dict(version["copies"][0], host="trainer", path=str(path), state="verified")]

    again = json.loads(mesh.meshctl("models", "register", str(path), "--host", "trainer",
                                    "--name", "oracle-farore-v1", "--json").stdout)
    assert again["created"] is False and again["version"]["version"] == 1

    deleted = mesh.meshctl("models", "delete", "oracle-farore-v1")
    assert "files on hosts are untouched" in deleted.stdout
    assert (path / "trainer_state.json").exists() and (path / "adapter_config.json").exists()
    mesh.meshctl("rescan", "--host", "trainer")
    wait_for(lambda: not mesh.host("trainer")["scanning"], 20, "rescan to finish")
    assert version_of(mesh.json("models", "list"), "oracle-farore-v1") is None
    assert version_of(mesh.json("models", "list"), "oracle-farore") is None  # not re-listed either


def test_bad_input_gets_one_clear_line_and_nothing_breaks(mesh, tmp_path):
    mesh.start_coordinator()
    root = trainer_root(tmp_path)
    (root / "broken.gguf").write_bytes(b"GGUF" + b"\x00" * 10)
    (root / "bad-config").mkdir()
    (root / "bad-config" / "config.json").write_text("{not json")
    (root / "bad-config" / "model.safetensors").write_bytes(b"\x00" * 16)
    (root / "loop").mkdir()
    (root / "loop" / "self").symlink_to(root / "loop")
    outside = tmp_path / "outside-model"
    make_hf_model(outside)
    agent = mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: version_of(rows, "tiny-llama"))
    problems = wait_for(lambda: mesh.host("trainer")["problems"], 20, "scan problems")
    assert any("broken.gguf" in p for p in problems) and any("config.json" in p for p in problems)

    cases = [
        (("models", "info", "no-such-model"), "unknown model 'no-such-model'"),
        (("models", "info", "tiny-llama:9"), "has no version 9"),
        (("models", "info", "tiny-llama:x"), "invalid version"),
        (("models", "register", str(outside), "--host", "trainer"), "not under"),
        (("models", "register", str(root / ".." / "outside-model"), "--host", "trainer"), "not under"),
        (("models", "register", str(root / "nothing-here"), "--host", "trainer"), "nothing-here"),
        (("models", "register", str(root / "bad-config"), "--host", "trainer"), "config.json"),
        (("models", "register", str(root / "tiny-llama"), "--host", "nohost"), "unknown host 'nohost'"),
        (("models", "register", str(root / "tiny-llama"), "--host", "trainer", "--name", "../evil"),
         "invalid model name"),
        (("models", "delete", "no-such-model"), "unknown model"),
        (("gpus", "--host", "nohost"), "unknown host"),
    ]
    for args, message in cases:
        result = mesh.meshctl(*args, check=False)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert agent.alive()
    assert version_of(mesh.json("models", "list"), "outside-model") is None
    assert mesh.host("trainer")["status"] == "online"


def test_meshctl_without_a_coordinator_says_how_to_start_one(mesh, tmp_path):
    result = mesh.meshctl("hosts", check=False)
    assert result.returncode == 1 and "meshctl up" in result.stderr and "Traceback" not in result.stderr
    result = mesh.meshctl("hosts", check=False, env={"LLMESH_COORDINATOR": f"127.0.0.1:{free_port()}"})
    assert result.returncode == 1 and "no API token" in result.stderr
    token = "L10" + "ab" * 32 + "::secret"
    result = mesh.meshctl("hosts", check=False, env={"LLMESH_COORDINATOR": f"127.0.0.1:{free_port()}",
                                                     "LLMESH_TOKEN": token})
    assert result.returncode == 1 and "not reachable" in result.stderr
    result = mesh.meshctl("--coordinator", "nonsense", "hosts", check=False)
    assert result.returncode == 1 and "invalid address" in result.stderr
