"""A deployment is found by what the user called it: the served name, the model or version it
was deployed from, or the converted version it serves. A redeploy under the same served name
replaces it on its port; `models info` says where a version runs; `models list --backend`
lists what runs there; a deployment on a host that went away is not said to be running.

Real coordinator, agent and llama.cpp (llama-cpp-python) server; Ollama is the stand-in of
tests/ollama_standin.py (the daemon cannot be installed here)."""
import json

import pytest
from harness import version_of, wait_for
from ollama_standin import OllamaStandIn
from test_serving_mesh import _llama_server_pids
from tokenizers_for_tests import make_runnable_llama

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")


@pytest.fixture
def vm(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "vm"
    make_runnable_llama(root / "tiny-llama", seed=1)
    mesh.ollama = OllamaStandIn().__enter__()
    mesh.start_agent("vm", [root], extra=["--ollama-url", mesh.ollama.url])
    mesh.wait_host("vm")
    mesh.wait_models(lambda rows: version_of(rows, "tiny-llama"))
    yield mesh
    mesh.ollama.__exit__(None, None, None)


def deploy(mesh, *args):
    return json.loads(mesh.meshctl("models", "deploy", *args, "--json", timeout=900).stdout)


def test_a_deployment_is_found_by_the_name_it_was_deployed_from_and_replaced_on_its_port(vm):
    first = deploy(vm, "tiny-llama", "llamacpp", "--on", "vm", "--quant", "Q8_0")
    assert first["ref"] == "tiny-llama-q8_0:1" and first["served_name"] == "tiny-llama"
    result = json.loads(vm.meshctl("models", "test", "tiny-llama", "--on", "vm", "--json", timeout=300).stdout)
    assert result["passed"] and result["ref"] == first["ref"]

    # Where it runs: on the version deployed and on the one it was converted to.
    for ref in ("tiny-llama", first["ref"]):
        placed = vm.json("models", "info", ref)["deployed_to"]
        assert [(d["host"], d["backend"], d["served_name"], d["state"]) for d in placed] == \
            [("vm", "llamacpp", "tiny-llama", "running")]
    assert "Deployed To" in vm.meshctl("models", "info", "tiny-llama").stdout
    assert vm.json("models", "info", "tiny-llama", )["deployed_to"][0]["endpoint"] == first["endpoint"]
    running = {v["name"] for v in vm.json("models", "list", "--backend", "llamacpp")}
    assert running == {"tiny-llama", "tiny-llama-q8_0"}
    assert vm.json("models", "list", "--backend", "ollama") == []
    assert {v["name"] for v in vm.json("models", "list", "--deployed-on", "vm")} == running

    # The same served name again: replaced in place, on the same port, with or without --port.
    again = deploy(vm, "tiny-llama", "llamacpp", "--on", "vm", "--quant", "Q8_0")
    assert again["id"] != first["id"] and again["port"] == first["port"] and again["endpoint"] == first["endpoint"]
    pinned = deploy(vm, "tiny-llama", "llamacpp", "--on", "vm", "--quant", "Q8_0", "--port", str(first["port"]))
    assert pinned["port"] == first["port"]
    assert [d["id"] for d in vm.json("deployments")] == [pinned["id"]]
    assert len(_llama_server_pids(first["port"])) == 1

    vm.meshctl("models", "undeploy", "tiny-llama", "--on", "vm")
    assert vm.json("deployments") == [] and vm.json("models", "info", "tiny-llama")["deployed_to"] == []
    wait_for(lambda: not _llama_server_pids(first["port"]), 30, "no server process left")
    gone = vm.meshctl("models", "undeploy", "tiny-llama", "--on", "vm", check=False)
    assert gone.returncode == 1 and gone.stderr.strip() == "error: tiny-llama is not deployed on vm"


def test_ollama_deployments_are_listed_by_backend_and_undeployed_by_served_name(vm):
    deploy(vm, "tiny-llama", "ollama", "--on", "vm", "--quant", "Q8_0", "--name", "tiny:latest")
    assert {v["name"] for v in vm.json("models", "list", "--backend", "ollama")} == {"tiny-llama", "tiny-llama-q8_0"}
    assert vm.json("models", "list", "--backend", "llamacpp") == []
    vm.meshctl("models", "undeploy", "tiny:latest")
    assert "tiny:latest" not in vm.ollama.models and vm.json("deployments") == []


def test_a_deployment_on_a_host_that_went_away_is_not_said_to_be_running(vm):
    d = deploy(vm, "tiny-llama", "llamacpp", "--on", "vm", "--quant", "Q8_0")
    vm.agent("vm").stop()
    vm.wait_host("vm", "offline")
    assert [r["state"] for r in vm.json("deployments")] == ["unknown (host offline)"]
    assert vm.json("models", "info", "tiny-llama")["deployed_to"][0]["state"] == "unknown (host offline)"
    wait_for(lambda: not _llama_server_pids(d["port"]), 30, "the agent stopped its server")
