"""Serving: a real llama.cpp server (llama-cpp-python) supervised by LlamaServer, and Ollama
deployment against a STAND-IN Ollama server (tests/ollama_standin.py): the Ollama daemon cannot
be installed here, so the stand-in implements the endpoints llmesh uses as Ollama documents
them, and answers generate requests with a canned text.
"""
from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import psutil
import pytest
from factories import OLLAMA_PARAMS, OLLAMA_TEMPLATE, make_peft_adapter
from harness import free_port
from ollama_standin import CANNED_RESPONSE, OllamaStandIn
from tokenizers_for_tests import make_runnable_llama

from llmesh.agent.convert.lora import convert_lora_to_gguf
from llmesh.agent.convert.model import convert_to_gguf
from llmesh.agent.serving.llamacpp import LlamaServer, chat_test, check_port_free
from llmesh.agent.serving.ollama import OllamaClient, OllamaError, deploy_to_ollama
from llmesh.common.errors import FailedPrecondition, NotFound, ResourceExhausted, Unavailable
from llmesh.common.hashing import hash_file

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed "
                    "(pip install 'llmesh[test]')")

NO_EOS = {"temperature": 0.0, "logit_bias": {"2": -100.0}}  # random weights: never stop early


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    model = make_runnable_llama(root / "model")
    return Path(convert_to_gguf(model, root / "gguf" / "tiny.F16.gguf")["path"])


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- llama.cpp server ----------------------------------------------------------------------------

def test_deploy_test_restart_and_undeploy(tiny_gguf, tmp_path):
    server = LlamaServer(tmp_path / "logs")
    port = free_port()
    restarted = None
    try:
        endpoint = server.start(tiny_gguf, port=port, served_name="tiny", n_ctx=128, threads=2)
        assert endpoint.url == f"http://127.0.0.1:{port}" and endpoint.pid == server.pid
        first = chat_test(endpoint.url, "Say hi", max_tokens=8, **NO_EOS)
        assert first["passed"] and first["tokens"] >= 2, first
        assert first["ttft_s"] > 0 and first["tokens_per_s"] > 0

        old_pid = endpoint.pid
        os.kill(old_pid, signal.SIGKILL)
        restarted = server.wait_for_restart(old_pid)
        assert restarted.pid != old_pid and server.restarts == 1
        assert gone(old_pid)
        again = chat_test(restarted.url, "Say hi", max_tokens=4, **NO_EOS)
        assert again["passed"], again
    finally:
        server.stop()
    assert server.pid is None and gone(endpoint.pid) and gone(restarted.pid)
    check_port_free("127.0.0.1", port)  # nothing is listening any more
    assert "--- start" in server.log_path.read_text()


def test_port_in_use_is_refused_before_starting(tiny_gguf, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = LlamaServer(tmp_path)
        with pytest.raises(FailedPrecondition) as err:
            server.start(tiny_gguf, port=port, served_name="tiny", n_ctx=128)
    assert str(err.value) == f"port {port} is in use on this host"
    assert server.pid is None


def test_missing_backend_binary_is_refused(tiny_gguf, tmp_path):
    server = LlamaServer(tmp_path)
    with pytest.raises(FailedPrecondition, match="llama.cpp backend missing on this host"):
        server.start(tiny_gguf, port=free_port(), served_name="tiny",
                     binary=str(tmp_path / "no-such-llama-server"))
    assert server.pid is None


def test_not_enough_memory_is_refused(tiny_gguf, tmp_path):
    server = LlamaServer(tmp_path)
    with pytest.raises(ResourceExhausted, match="^not enough memory: serving tiny.F16.gguf"):
        server.start(tiny_gguf, port=free_port(), served_name="tiny", n_ctx=2**31)
    assert server.pid is None


def test_unreadable_gguf_is_refused_before_starting(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\xff" * 64)
    server = LlamaServer(tmp_path)
    with pytest.raises(FailedPrecondition, match="bogus.gguf is not a readable GGUF file"):
        server.start(bogus, port=free_port(), served_name="bogus", n_ctx=128)
    assert server.pid is None


def test_server_that_dies_at_start_reports_its_log_and_leaves_nothing(tiny_gguf, tmp_path):
    server = LlamaServer(tmp_path)
    with pytest.raises(FailedPrecondition, match="exited with code .* while starting: .*bogus"):
        server.start(tiny_gguf, port=free_port(), served_name="tiny", n_ctx=128,
                     extra_args=["--bogus_option", "1"])
    assert server.pid is None and server.restarts == 0


def test_server_with_a_lora_adapter(tiny_gguf, tmp_path):
    base_dir = tiny_gguf.parent.parent / "model"
    adapter = make_peft_adapter(tmp_path / "adapter", base=str(base_dir),
                                target_modules=("q_proj", "o_proj"))
    lora = convert_lora_to_gguf(adapter, tmp_path / "adapter.gguf")["path"]
    server = LlamaServer(tmp_path / "logs")
    try:
        endpoint = server.start(tiny_gguf, port=free_port(), served_name="tiny-ft", n_ctx=128,
                                lora_path=lora)
        assert chat_test(endpoint.url, "hello", max_tokens=4, **NO_EOS)["passed"]
    finally:
        server.stop()
    assert gone(endpoint.pid)


def test_chat_test_against_nothing_is_unavailable():
    with pytest.raises(Unavailable, match="cannot reach"):
        chat_test(f"http://127.0.0.1:{free_port()}", "hi", max_tokens=1, timeout_s=5)


# -- Ollama (stand-in server) ----------------------------------------------------------------------

def test_ollama_deploy_uploads_each_blob_once_and_writes_a_modelfile(tiny_gguf, tmp_path):
    adapter = make_peft_adapter(tmp_path / "adapter", base=str(tiny_gguf.parent.parent / "model"),
                                target_modules=("o_proj",))
    lora = Path(convert_lora_to_gguf(adapter, tmp_path / "adapter.gguf")["path"])
    _, digest = hash_file(tiny_gguf)
    with OllamaStandIn() as ollama:   # a stand-in, not the real Ollama daemon
        client = OllamaClient(ollama.url)
        first = deploy_to_ollama(client, tiny_gguf, digest, "tiny-ft", OLLAMA_TEMPLATE,
                                 OLLAMA_PARAMS, adapter=lora, system="Be brief.")
        assert first["uploaded"] == [digest, hash_file(lora)[1]] and first["skipped"] == []
        assert first["statuses"][-1] == "success"
        assert ollama.count("POST", "/api/blobs/") == 2
        second = deploy_to_ollama(client, tiny_gguf, digest, "tiny", OLLAMA_TEMPLATE,
                                  OLLAMA_PARAMS)
        assert second["uploaded"] == [] and second["skipped"] == [digest]
        assert ollama.count("POST", "/api/blobs/") == 2   # nothing sent twice
        assert ollama.count("HEAD", "/api/blobs/") == 3

        created = ollama.models["tiny-ft:latest"]
        assert created["files"] == {"tiny.F16.gguf": digest}
        assert created["adapters"] == {"adapter.gguf": hash_file(lora)[1]}
        assert created["template"] == OLLAMA_TEMPLATE and created["parameters"] == OLLAMA_PARAMS
        assert {m["name"] for m in client.list_models()} == {"tiny:latest", "tiny-ft:latest"}
        assert client.generate("tiny", "hi")["response"] == CANNED_RESPONSE
        client.delete("tiny")
        with pytest.raises(NotFound, match="no model 'tiny'"):
            client.delete("tiny")
        assert [m["name"] for m in client.list_models()] == ["tiny-ft:latest"]

    modelfile = Path(first["modelfile"]).read_text()
    assert Path(first["modelfile"]) == tiny_gguf.parent / "tiny-ft.Modelfile"
    assert Path(second["modelfile"]).read_text().splitlines()[:2] == [
        "FROM ./tiny.F16.gguf", f'TEMPLATE """{OLLAMA_TEMPLATE}"""']
    assert modelfile.splitlines()[:2] == ["FROM ./tiny.F16.gguf", f"ADAPTER {lora}"]
    assert f'TEMPLATE """{OLLAMA_TEMPLATE}"""' in modelfile
    assert 'SYSTEM """Be brief."""' in modelfile
    assert 'PARAMETER stop "<|user|>"' in modelfile and 'PARAMETER stop "</s>"' in modelfile
    assert "PARAMETER temperature 0.7" in modelfile


def test_ollama_refuses_a_blob_whose_bytes_do_not_match_the_digest(tiny_gguf, tmp_path):
    wrong = "sha256:" + "0" * 64
    with OllamaStandIn() as ollama:
        client = OllamaClient(ollama.url)
        with pytest.raises(OllamaError, match=r"upload of tiny.F16.gguf \(400\): digest mismatch"):
            client.push_blob(tiny_gguf, wrong)
        assert not client.has_blob(wrong) and ollama.blobs == {}
        with pytest.raises(OllamaError, match=f"blob {wrong} not found"):
            client.create("tiny", {"tiny.gguf": wrong})
        with pytest.raises(OllamaError, match="digest mismatch"):
            deploy_to_ollama(client, tiny_gguf, wrong, "tiny", modelfile_path=tmp_path / "MF")
        assert ollama.models == {}


def test_ollama_unreachable_is_unavailable(tiny_gguf, tmp_path):
    client = OllamaClient(f"http://127.0.0.1:{free_port()}", timeout_s=5)
    with pytest.raises(Unavailable, match="Ollama at .* is unreachable"):
        deploy_to_ollama(client, tiny_gguf, None, "tiny", modelfile_path=tmp_path / "Modelfile")
