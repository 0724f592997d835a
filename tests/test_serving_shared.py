"""Several LoRA adapters on one base, one process: llmesh's adapter server (agent/serving/
loraserver.py, run by shared.py) with a real llama.cpp (llama-cpp-python) loading a tiny base once
and two tiny adapters, each served under its own name; adapters joined, swapped in place and
removed at run time with the same pid; errors as one line with nothing left running."""
from __future__ import annotations

import http.client
import json
import os
import signal

import numpy as np
import psutil
import pytest
from factories import make_peft_adapter
from harness import free_port
from tokenizers_for_tests import make_runnable_llama

from llmesh.agent.convert.lora import convert_lora_to_gguf
from llmesh.agent.convert.model import convert_to_gguf
from llmesh.agent.serving.llamacpp import chat_test, check_port_free
from llmesh.agent.serving.shared import SharedServer
from llmesh.common.errors import FailedPrecondition, Unavailable

pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")
from safetensors.numpy import save_file  # noqa: E402 - after the skip: a test dependency too

PROMPT = "Tell me about llamas and alpacas."
GREEDY = {"temperature": 0.0, "seed": 7, "logit_bias": {"2": -100.0}}  # random weights: never stop early


def strong_adapter(path, base_dir, seed, hidden=64):
    """A PEFT LoRA (q/o projections) with weights large enough to change the greedy output."""
    make_peft_adapter(path, base=str(base_dir), target_modules=("q_proj", "o_proj"), seed=seed, hidden=hidden)
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(2):
        for module in ("q_proj", "o_proj"):
            p = f"base_model.model.model.layers.{i}.self_attn.{module}."
            tensors[p + "lora_A.weight"] = (rng.standard_normal((8, hidden)) * 0.5).astype(np.float32)
            tensors[p + "lora_B.weight"] = (rng.standard_normal((hidden, 8)) * 0.5).astype(np.float32)
    save_file(tensors, str(path / "adapter_model.safetensors"), metadata={"format": "pt"})
    return convert_lora_to_gguf(path, path.parent / f"{path.name}.gguf")["path"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    base = make_runnable_llama(root / "base", seed=1)
    other = make_runnable_llama(root / "other", seed=3, hidden=32)  # another base: other shapes
    return {"base": convert_to_gguf(base, root / "base.F16.gguf")["path"],
            "a": strong_adapter(root / "a", base, seed=5), "b": strong_adapter(root / "b", base, seed=6),
            "other": strong_adapter(root / "other-lora", other, seed=7, hidden=32)}


def ask(url, model):
    return chat_test(url, PROMPT, max_tokens=12, model=model, **GREEDY)["text"]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_two_adapters_one_process_swapped_in_place_and_removed(files, tmp_path):
    shared = SharedServer(tmp_path / "logs")
    port = free_port()
    try:
        a = shared.start(files["base"], port=port, served_name="oracle", adapter_path=files["a"], n_ctx=256)
        pid, url = a.pid, a.endpoint.url
        b = shared.join("oracle-b", files["b"])
        base = shared.join("base", None)
        assert b.pid == base.pid == pid and b.endpoint.url == url
        answers = {name: ask(url, name) for name in ("oracle", "oracle-b", "base")}
        assert len(set(answers.values())) == 3, answers  # each name answers with its own weights
        assert ask(url, "oracle") == answers["oracle"]  # the same again after other adapters ran

        # Swapped in place: the same process and port; the name now answers with adapter b.
        swapped = shared.swap(a, files["b"])
        assert swapped.pid == pid and ask(url, "oracle") == answers["oracle-b"] != answers["oracle"]
        assert shared.restarts == 0

        # A file llama.cpp refuses (another base's adapter) changes nothing.
        with pytest.raises(FailedPrecondition, match="^llama.cpp cannot load the adapter other-lora.gguf on "
                                                     "base.F16.gguf"):
            shared.swap(swapped, files["other"])
        assert ask(url, "oracle") == answers["oracle-b"]

        # An unknown name: one line naming what is served.
        with pytest.raises(Unavailable, match="model 'nope' is not served here; served: oracle, oracle-b, base"):
            ask(url, "nope")

        # llama-server's shape: list and rescale by id; scale 0 is the base alone.
        listing = _http(url, "GET", "/lora-adapters")
        assert [(x["id"], x["name"]) for x in listing] == [(0, "oracle"), (1, "oracle-b"), (2, "base")]
        _http(url, "POST", "/lora-adapters", [{"id": 1, "scale": 0.0}])
        assert ask(url, "oracle-b") == answers["base"]

        b.stop()  # the others keep serving, on the same process
        assert alive(pid) and ask(url, "oracle") == answers["oracle-b"] and ask(url, "base") == answers["base"]
        with pytest.raises(Unavailable, match="model 'oracle-b' is not served here"):
            ask(url, "oracle-b")

        swapped.stop()  # the name the process started with leaves too
        assert alive(pid) and ask(url, "base") == answers["base"]
        assert ask(url, "any-name") == answers["base"]  # one name served: it answers to any (as llama-cpp-python's)

        # The supervisor restarts a killed server with what it served then.
        os.kill(pid, signal.SIGKILL)
        shared._supervisor.wait_for_restart(pid)
        assert shared.pid != pid and ask(url, "base") == answers["base"]
        assert [x["name"] for x in _http(url, "GET", "/lora-adapters")] == ["base"]
        pid = shared.pid

        base.stop()  # the last one stops the process
        assert not alive(pid) and shared.pid is None
        check_port_free("127.0.0.1", port)
    finally:
        shared.stop()


def test_an_adapter_of_another_base_fails_at_start_and_leaves_nothing(files, tmp_path):
    shared = SharedServer(tmp_path / "logs", max_backoff_s=1)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(FailedPrecondition) as err:
        shared.start(files["base"], port=free_port(), served_name="x", adapter_path=files["other"], n_ctx=256)
    message = str(err.value)
    assert "\n" not in message and "llama.cpp cannot load the adapter other-lora.gguf" in message
    assert shared.pid is None and not shared.running
    assert {p.pid for p in psutil.Process().children(recursive=True) if alive(p.pid)} <= before


def test_a_missing_adapter_file_is_refused_before_starting(files, tmp_path):
    shared = SharedServer(tmp_path / "logs")
    with pytest.raises(FailedPrecondition, match="^the adapter file .*missing.gguf does not exist on this host$"):
        shared.start(files["base"], port=free_port(), served_name="x", adapter_path=tmp_path / "missing.gguf")
    assert shared.pid is None


def _http(url, method, path, body=None):
    host, port = url.split("//")[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None)
        response = conn.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())
    finally:
        conn.close()


LLAMA_SERVER_STANDIN = """#!{python}
# A STAND-IN for a llama-server binary (not installed here): it takes llama-server's flags and runs
# llama-cpp-python's server, which, like llama-server, loads its adapter only at start.
import argparse, os, sys
p = argparse.ArgumentParser()
for flag in ("-m", "--host", "--port", "-c", "--alias", "--lora", "-t"):
    p.add_argument(flag)
a = p.parse_args()
cmd = [sys.executable, "-m", "llama_cpp.server", "--model", a.m, "--host", a.host, "--port", a.port,
       "--n_ctx", a.c, "--model_alias", a.alias] + (["--lora_path", a.lora] if a.lora else [])
os.execv(sys.executable, cmd)
"""


@pytest.mark.skipif(os.name == "nt", reason="the stand-in binary is a script with a #! line")
def test_with_a_llama_server_binary_a_swap_is_not_done_in_place(files, tmp_path):
    """A configured llama-server loads adapters only at start: the agent says it cannot swap in
    place (and changes nothing), so the coordinator restarts it cleanly."""
    import sys

    from llmesh.agent.serving.deployments import Deployments
    from llmesh.v1 import agent_link_pb2 as link_pb

    binary = tmp_path / "llama-server"
    binary.write_text(LLAMA_SERVER_STANDIN.format(python=sys.executable))
    binary.chmod(0o755)
    deployments = Deployments(lambda p: p, tmp_path / "logs", ollama_url="", llama_server_binary=str(binary))
    port = free_port()
    start = link_pb.StartServing(deployment_id="d1", backend="llamacpp", gguf_path=files["base"],
                                 served_name="oracle", port=port, adapter_path=files["a"])
    first = deployments.start(start)
    try:
        assert "how" not in first and alive(first["pid"])
        swap = link_pb.StartServing(deployment_id="d2", backend="llamacpp", gguf_path=files["base"],
                                    served_name="oracle", port=port, adapter_path=files["b"], replaces="d1",
                                    in_place=True)
        assert deployments.start(swap) == {"in_place": False}
        assert list(deployments.servers) == ["d1"] and deployments.servers["d1"].pid == first["pid"]
    finally:
        deployments.stop(link_pb.StopServing(deployment_id="d1", backend="llamacpp"))
    assert not alive(first["pid"])
