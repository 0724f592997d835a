"""LoRA adapters on their base: the base is found wherever it is (here: only in an HF cache on
another host, named by the adapter_config.json's base id), brought over, converted with the
adapter, and served base + adapter by a real llama.cpp (llama-cpp-python) server; an adapter
trained on another base is refused before any work; several adapters share one llama.cpp process
(each under its own name) and `models swap` changes the adapter in place (same pid) there, and with
a clean restart on Ollama (a stand-in: the daemon cannot be installed here)."""
import json
import shutil

import numpy as np
import psutil
import pytest
from factories import make_peft_adapter
from harness import version_of
from ollama_standin import OllamaStandIn
from tokenizers_for_tests import make_runnable_llama

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")
from safetensors.numpy import save_file  # noqa: E402 - after the skip: a test dependency too

PROMPT = "Tell me about llamas and alpacas."


def hf_cache_model(cache_root, repo_id, staged):
    """A runnable model laid out as the hub cache keeps it (snapshots/<rev>, refs/main)."""
    repo = cache_root / ("models--" + repo_id.replace("/", "--"))
    revision = "0123abcd0123abcd0123abcd0123abcd0123abcd"
    shutil.copytree(staged, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)


def strong_adapter(path, base, seed):
    """A PEFT LoRA on q/o projections with weights large enough to change the greedy output."""
    make_peft_adapter(path, base=base, target_modules=("q_proj", "o_proj"), seed=seed)
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(2):
        for module in ("q_proj", "o_proj"):
            p = f"base_model.model.model.layers.{i}.self_attn.{module}."
            tensors[p + "lora_A.weight"] = (rng.standard_normal((8, 64)) * 0.5).astype(np.float32)
            tensors[p + "lora_B.weight"] = (rng.standard_normal((64, 8)) * 0.5).astype(np.float32)
    save_file(tensors, str(path / "adapter_model.safetensors"), metadata={"format": "pt"})


@pytest.fixture
def lora(mesh, tmp_path):
    mesh.start_coordinator()
    trainer, mac = tmp_path / "trainer", tmp_path / "mac"
    hf_cache_model(trainer / "hub", "acme/tiny-llama", make_runnable_llama(tmp_path / "staged", seed=1))
    strong_adapter(mac / "oracle", "acme/tiny-llama", seed=5)
    strong_adapter(mac / "oracle-b", "acme/tiny-llama", seed=6)
    make_runnable_llama(mac / "other", seed=3)
    strong_adapter(mac / "other-lora", "other", seed=7)
    mesh.start_agent("trainer", [trainer])
    mesh.ollama = OllamaStandIn().__enter__()
    mesh.start_agent("mac", [mac], extra=["--ollama-url", mesh.ollama.url])
    mesh.wait_host("trainer")
    mesh.wait_host("mac")
    mesh.wait_models(lambda rows: all(version_of(rows, n) for n in ("acme/tiny-llama", "oracle", "oracle-b",
                                                                    "other", "other-lora")), timeout=60)
    yield mesh
    mesh.ollama.__exit__(None, None, None)


def answer(mesh, name):
    return json.loads(mesh.meshctl("models", "test", name, "--on", "mac", "--prompt", PROMPT, "--max-tokens", "16",
                                   "--ignore-eos", "--json", timeout=300).stdout)["text"]


def test_an_adapter_is_served_on_its_base_from_another_hosts_hf_cache(lora):
    refused = lora.meshctl("models", "deploy", "other", "llamacpp", "--on", "mac", "--adapter", "oracle",
                           check=False, timeout=300)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "adapter oracle was trained on acme/tiny-llama:1" in refused.stderr and "not on other" in refused.stderr
    assert lora.json("jobs", "--all") == [] and lora.json("deployments", "--all") == []  # nothing was done

    d = json.loads(lora.meshctl("models", "deploy", "oracle", "llamacpp", "--on", "mac", "--quant", "Q8_0", "--json",
                                timeout=900).stdout)
    assert d["served_name"] == "oracle" and d["source"] == "acme/tiny-llama:1" and d["adapter"].startswith("oracle")
    assert d["how"] == "started" and alive(d["pid"])
    with_adapter = answer(lora, "oracle")
    # Another adapter and the base alone on the same host join the running server: one process, one port
    # (with --port naming it, or without).
    b = json.loads(lora.meshctl("models", "deploy", "oracle-b", "llamacpp", "--on", "mac", "--quant", "Q8_0", "--json",
                                "--port", str(d["port"]), timeout=900).stdout)  # its port, named: joined too
    base = json.loads(lora.meshctl("models", "deploy", "acme/tiny-llama", "llamacpp", "--on", "mac", "--name", "base",
                                   "--quant", "Q8_0", "--json", timeout=900).stdout)
    assert (b["how"], b["pid"], b["port"]) == (base["how"], base["pid"], base["port"]) == ("joined", d["pid"], d["port"])
    with_b, alone = answer(lora, "oracle-b"), answer(lora, "base")
    assert len({with_adapter, with_b, alone}) == 3

    wrong = lora.meshctl("models", "swap", "oracle", "other-lora", check=False, timeout=300)
    assert wrong.returncode == 1 and len(wrong.stderr.strip().splitlines()) == 1
    assert "adapter other-lora was trained on other:1" in wrong.stderr
    unknown = lora.meshctl("models", "swap", "oracle", "no-such-adapter", check=False, timeout=300)
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    assert "no-such-adapter" in unknown.stderr
    assert answer(lora, "oracle") == with_adapter  # nothing changed
    out = lora.meshctl("models", "swap", "oracle", "oracle-b", timeout=900).stdout
    assert "adapter changed in place, no restart" in out and f"pid {d['pid']}" in out
    swapped = [x for x in lora.json("deployments") if x["served_name"] == "oracle"]
    assert len(swapped) == 1 and swapped[0]["adapter"].startswith("oracle-b") and swapped[0]["port"] == d["port"]
    assert answer(lora, "oracle") == with_b != with_adapter

    # Undeploying one leaves the others serving on the same process; the last one stops it.
    lora.meshctl("models", "undeploy", "oracle-b", "--on", "mac", timeout=300)
    assert alive(d["pid"]) and answer(lora, "oracle") == with_b and answer(lora, "base") == alone
    lora.meshctl("models", "undeploy", "oracle", "--on", "mac", timeout=300)
    lora.meshctl("models", "undeploy", "base", "--on", "mac", timeout=300)
    assert not alive(d["pid"]) and lora.json("deployments") == []

    # Ollama: FROM the base's blob + ADAPTER the adapter's (the stand-in checks the digests).
    lora.meshctl("models", "deploy", "oracle", "ollama", "--on", "mac", "--name", "oracle-o", "--quant", "Q8_0",
                 timeout=900)
    created = lora.ollama.models["oracle-o:latest"]
    assert created["adapters"] and created["files"]
    # Ollama cannot change the adapter of a model: a clean restart, and it says so.
    swapped = json.loads(lora.meshctl("models", "swap", "oracle-o", "oracle-b", "--json", timeout=900).stdout)
    assert swapped["how"] == "restarted" and swapped["adapter"].startswith("oracle-b")
    assert lora.ollama.models["oracle-o:latest"]["adapters"] != created["adapters"]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
