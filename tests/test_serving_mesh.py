"""Convert and deploy where the model is, end to end: real coordinator and agents,
real llama.cpp (llama-cpp-python) converting, quantizing and serving.

The Ollama backend runs against tests/ollama_standin.py: the Ollama daemon cannot be
installed here, so a stand-in HTTP server implements the endpoints llmesh uses, as
Ollama documents them (blob digests checked on upload)."""
import json
import os
import signal

import pytest
from harness import version_of, wait_for
from ollama_standin import OllamaStandIn
from tokenizers_for_tests import make_runnable_llama

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")


@pytest.fixture
def serving(mesh, tmp_path):
    mesh.start_coordinator()
    mesh.trainer_root, mesh.node_root = tmp_path / "trainer", tmp_path / "node"
    make_runnable_llama(mesh.trainer_root / "tiny-llama", seed=1)
    mesh.node_root.mkdir()
    mesh.ollama = OllamaStandIn().__enter__()
    mesh.start_agent("trainer", [mesh.trainer_root])
    mesh.start_agent("node", [mesh.node_root], extra=["--label", "halext", "--ollama-url", mesh.ollama.url])
    mesh.wait_host("trainer")
    mesh.wait_host("node")
    mesh.wait_models(lambda rows: version_of(rows, "tiny-llama"))
    yield mesh
    mesh.ollama.__exit__(None, None, None)


def test_convert_on_the_holder_registers_a_linked_version_and_reuses_it(serving):
    job = json.loads(serving.meshctl("models", "convert", "tiny-llama", "gguf", "--quant", "Q8_0", "--wait",
                                     "--json", timeout=600).stdout)
    assert job["state"] == "done" and job["destination"] == "trainer"
    converted = serving.json("models", "info", job["copy_path"])
    assert converted["kind"] == "gguf" and converted["metadata"]["gguf"]["quantization"] == "Q8_0"
    lineage = serving.json("models", "lineage", job["copy_path"])
    assert "tiny-llama" in json.dumps(lineage)
    again = json.loads(serving.meshctl("models", "convert", "tiny-llama", "gguf", "--quant", "Q8_0", "--wait",
                                       "--json").stdout)
    assert again["state"] == "done" and again["copy_path"] == job["copy_path"]  # reused, not redone
    bad = serving.meshctl("models", "convert", "tiny-llama", "gguf", "--quant", "Q9_X", check=False)
    assert bad.returncode == 1 and "unknown quantization" in bad.stderr


def test_deploy_serves_tests_restarts_rolls_back_and_undeploys(serving):
    first = json.loads(serving.meshctl("models", "deploy", "tiny-llama", "llamacpp", "--on", "node",
                                       "--quant", "Q4_K_M", "--json", timeout=900).stdout)
    assert first["state"] == "running" and first["host"] == "node" and first["endpoint"].startswith("http://")
    result = json.loads(serving.meshctl("models", "test", first["ref"], "--on", "node", "--ignore-eos", "--json",
                                        timeout=300).stdout)
    assert result["passed"] and result["tokens"] > 0 and result["ttft_s"] > 0, result
    info = serving.json("models", "info", first["ref"])
    assert "tokens_per_second" in json.dumps(info["metrics"] if "metrics" in info else info)

    assert len(serving.json("deployments")) == 1
    server_pids = _llama_server_pids(first["port"])
    assert server_pids
    os.kill(server_pids[0], signal.SIGKILL)  # the supervisor must bring it back
    wait_for(lambda: _llama_server_pids(first["port"]) and _llama_server_pids(first["port"]) != server_pids,
             120, "the server restarted", logs=serving.logs())
    def answers_again():  # the new process has to load the model before it answers
        result = serving.meshctl("models", "test", first["ref"], "--on", "node", "--ignore-eos", "--json",
                                 check=False, timeout=300)
        return result.returncode == 0 and json.loads(result.stdout)["passed"]
    wait_for(answers_again, 120, "the restarted server to answer", interval=1.0)

    second = json.loads(serving.meshctl("models", "deploy", "tiny-llama", "llamacpp", "--on", "node",
                                        "--quant", "Q8_0", "--json", timeout=900).stdout)
    assert second["ref"] != first["ref"]
    assert [d["ref"] for d in serving.json("deployments")] == [second["ref"]]
    assert first["served_name"] == second["served_name"] == "tiny-llama"
    rolled = json.loads(serving.meshctl("deployments", "rollback", "tiny-llama", "--on", "node", "--json",
                                        timeout=900).stdout)
    assert rolled["ref"] == first["ref"] and [d["ref"] for d in serving.json("deployments")] == [first["ref"]]
    serving.meshctl("models", "undeploy", serving.json("deployments")[0]["ref"], "--on", "node")
    assert serving.json("deployments") == []
    wait_for(lambda: not _llama_server_pids(first["port"]) and not _llama_server_pids(second["port"]), 30,
             "no server process left")


def test_ollama_backend_uploads_blobs_once_and_creates_the_model(serving):
    d = json.loads(serving.meshctl("models", "deploy", "tiny-llama", "ollama", "--on", "node", "--quant", "Q8_0",
                                   "--name", "tiny:latest", "--json", timeout=900).stdout)
    assert d["backend"] == "ollama" and d["endpoint"] == serving.ollama.url
    assert "tiny:latest" in serving.ollama.models
    uploads = serving.ollama.count("POST", "/api/blobs/")
    assert uploads >= 1
    serving.meshctl("models", "undeploy", d["ref"], "--on", "node")
    assert "tiny:latest" not in serving.ollama.models
    serving.meshctl("models", "deploy", "tiny-llama", "ollama", "--on", "node", "--quant", "Q8_0",
                    "--name", "tiny:latest", timeout=900)
    assert serving.ollama.count("POST", "/api/blobs/") == uploads  # Ollama already had the blob


def test_deploy_errors_are_one_clear_line(serving):
    for args, message in [
        (("models", "deploy", "tiny-llama", "llamacpp", "--on", "nohost"), "unknown host"),
        (("models", "deploy", "nope", "llamacpp", "--on", "node"), "unknown model"),
        (("models", "deploy", "tiny-llama", "halext", "--on", "trainer", "--quant", "Q8_0"), "not a halext node"),
        (("models", "undeploy", "tiny-llama"), "not deployed"),
        (("models", "test", "tiny-llama"), "not deployed"),
    ]:
        result = serving.meshctl(*args, check=False, timeout=600)
        assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def _llama_server_pids(port: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"llama_cpp.server" in b" ".join(cmdline) and str(port).encode() in cmdline:
            pids.append(int(entry))
    return sorted(pids)


def test_a_halext_node_asks_for_a_model_by_role(serving):
    serving.meshctl("models", "edit", "tiny-llama", "--role", "chat")
    env = {"LLMESH_HOME": str(serving.base / "agent-node")}
    result = serving.meshctl("agent", "request", "--role", "chat", "--json", env=env, timeout=900)
    deployment = json.loads(result.stdout)
    assert deployment["host"] == "node" and deployment["backend"] == "halext"
    assert deployment["ref"].startswith("tiny-llama") and deployment["state"] == "running"
    refused = serving.meshctl("agent", "request", "tiny-llama", env={"LLMESH_HOME": str(serving.base / "nowhere")},
                              check=False)
    assert refused.returncode == 1 and "has not joined" in refused.stderr
