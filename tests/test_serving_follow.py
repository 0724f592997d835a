"""A deployment bound to an alias (`models deploy NAME@ALIAS`) follows it: when the alias moves
or is rolled back, the deployment is redeployed to the alias's version under the same served
name and port; one that cannot follow keeps serving and says why. Real coordinator, agent and
llama.cpp (llama-cpp-python) server."""
import json
import threading
import time
import urllib.request

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


class Poller:
    """A client asking the endpoint every 50 ms, as a user's app would; it counts failures."""

    def __init__(self, url):
        self.url, self.ok, self.failures, self._stop = url, 0, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=30) as r:
                    assert r.status == 200 and json.loads(r.read())["data"][0]["id"] == "chat"
                self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every kind of failure counts
                self.failures.append(repr(exc))
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self.thread.join()


def test_a_deployment_bound_to_an_alias_follows_it_on_the_same_name_and_port(vm):
    vm.meshctl("models", "alias", "set", "tiny-llama:1", "prod")
    port = free_port()
    first = json.loads(vm.meshctl("models", "deploy", "tiny-llama@prod", "llamacpp", "--on", "vm", "--name", "chat",
                                  "--port", str(port), "--quant", "Q8_0", "--json", timeout=900).stdout)
    assert (first["source"], first["alias"], first["port"], first["served_name"]) == ("tiny-llama:1", "prod", port,
                                                                                       "chat")
    assert "tiny-llama@prod" in vm.meshctl("deployments").stdout

    poller = Poller(first["endpoint"])
    vm.meshctl("models", "alias", "set", "tiny-llama:2", "prod")
    moved = wait_for(lambda: following(vm, "tiny-llama:2"), 900, "the deployment to follow prod to v2",
                     interval=1.0, logs=vm.logs())
    assert (moved["port"], moved["endpoint"], moved["served_name"], moved["alias"]) == \
        (port, first["endpoint"], "chat", "prod")
    assert moved["ref"] != first["ref"]
    assert json.loads(vm.meshctl("models", "test", "chat", "--ignore-eos", "--json", timeout=300).stdout)["passed"]

    vm.meshctl("models", "rollback", "tiny-llama", "--alias", "prod")
    back = wait_for(lambda: following(vm, "tiny-llama:1"), 900, "the deployment to follow prod back to v1",
                    interval=1.0, logs=vm.logs())
    assert (back["port"], back["ref"]) == (port, first["ref"])
    poller.stop()
    assert poller.failures == [] and poller.ok > 0  # clients never saw the switch

    # An alias that goes away: the deployment keeps serving and says why.
    vm.meshctl("models", "alias", "rm", "tiny-llama", "prod")
    stuck = wait_for(lambda: (rows := vm.json("deployments")) and rows[0]["error"] and rows[0], 60,
                     "the deployment to say why it cannot follow")
    assert stuck["state"] == "running" and stuck["ref"] == first["ref"] and "tiny-llama@prod is gone" in stuck["error"]
    assert json.loads(vm.meshctl("models", "test", "chat", "--ignore-eos", "--json", timeout=300).stdout)["passed"]
