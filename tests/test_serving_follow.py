"""A deployment bound to an alias (`models deploy NAME@ALIAS`) follows it: when the alias moves
or is rolled back, the deployment is redeployed to the alias's version under the same served
name and port; one that cannot follow keeps serving and says why. Real coordinator, agent and
llama.cpp (llama-cpp-python) server."""
import json

import pytest
from harness import free_port, version_of, wait_for
from tokenizers_for_tests import make_runnable_llama

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")


@pytest.fixture
def vm(mesh, tmp_path):
    mesh.start_coordinator()
    root = tmp_path / "vm"
    make_runnable_llama(root / "tiny-llama", seed=1)
    make_runnable_llama(root / "retrained", seed=2)
    mesh.start_agent("vm", [root])
    mesh.wait_host("vm")
    mesh.wait_models(lambda rows: version_of(rows, "tiny-llama") and version_of(rows, "retrained"))
    mesh.meshctl("models", "register", str(root / "retrained"), "--host", "vm", "--name", "tiny-llama", timeout=300)
    yield mesh


def following(mesh, source):
    rows = mesh.json("deployments")
    return len(rows) == 1 and rows[0]["source"] == source and rows[0]


def test_a_deployment_bound_to_an_alias_follows_it_on_the_same_name_and_port(vm):
    vm.meshctl("models", "alias", "set", "tiny-llama:1", "prod")
    port = free_port()
    first = json.loads(vm.meshctl("models", "deploy", "tiny-llama@prod", "llamacpp", "--on", "vm", "--name", "chat",
                                  "--port", str(port), "--quant", "Q8_0", "--json", timeout=900).stdout)
    assert (first["source"], first["alias"], first["port"], first["served_name"]) == ("tiny-llama:1", "prod", port,
                                                                                       "chat")
    assert "tiny-llama@prod" in vm.meshctl("deployments").stdout

    vm.meshctl("models", "alias", "set", "tiny-llama:2", "prod")
    moved = wait_for(lambda: following(vm, "tiny-llama:2"), 900, "the deployment to follow prod to v2",
                     interval=1.0, logs=vm.logs())
    assert (moved["port"], moved["endpoint"], moved["served_name"], moved["alias"]) == \
        (port, first["endpoint"], "chat", "prod")
    assert moved["ref"] != first["ref"]
    assert json.loads(vm.meshctl("models", "test", "chat", "--json", timeout=300).stdout)["passed"]

    vm.meshctl("models", "rollback", "tiny-llama", "--alias", "prod")
    back = wait_for(lambda: following(vm, "tiny-llama:1"), 900, "the deployment to follow prod back to v1",
                    interval=1.0, logs=vm.logs())
    assert (back["port"], back["ref"]) == (port, first["ref"])

    # An alias that goes away: the deployment keeps serving and says why.
    vm.meshctl("models", "alias", "rm", "tiny-llama", "prod")
    stuck = wait_for(lambda: (rows := vm.json("deployments")) and rows[0]["error"] and rows[0], 60,
                     "the deployment to say why it cannot follow")
    assert stuck["state"] == "running" and stuck["ref"] == first["ref"] and "tiny-llama@prod is gone" in stuck["error"]
    assert json.loads(vm.meshctl("models", "test", "chat", "--json", timeout=300).stdout)["passed"]
