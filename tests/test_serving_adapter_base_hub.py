"""A LoRA adapter whose base no host holds: deploying it pulls the base (its adapter_config.json's
base id) from the Hugging Face Hub to the host that serves it, through the hub-pull job, then
converts and serves base + adapter on a real llama.cpp (llama-cpp-python) server. An adapter whose
base the Hub does not give (no such repo, gated without a token, the host offline for the Hub) is
refused in one line naming the base and the Hub's answer. The Hub here is a STAND-IN
(tests/hf_standin.py): the live Hub cannot be reached from the tests."""
import json

import pytest
from harness import version_of
from hf_standin import HubStandIn
from test_hubs_hf import hf_env
from test_serving_adapters import strong_adapter
from tokenizers_for_tests import make_runnable_llama

pytest.importorskip("llama_cpp", reason="llama-cpp-python is a test dependency (pyproject [test])")


@pytest.fixture
def hub():
    standin = HubStandIn()
    yield standin
    standin.stop()


def test_a_base_only_on_the_hub_is_pulled_to_the_serving_host(mesh, tmp_path, hub):
    staged = make_runnable_llama(tmp_path / "staged", seed=1)
    hub.add_commit("acme/tiny-llama", {p.name: p.read_bytes() for p in staged.iterdir() if p.is_file()})
    hub.add_commit("acme/gated-base", {"config.json": b"{}"})
    hub.gated["acme/gated-base"] = "hf_gate_91c2"
    trainer, mac, air = tmp_path / "trainer", tmp_path / "mac", tmp_path / "air"
    strong_adapter(trainer / "oracle", "acme/tiny-llama", seed=5)
    strong_adapter(trainer / "oracle-b", "acme/tiny-llama", seed=6)
    strong_adapter(trainer / "orphan", "acme/no-such-base", seed=7)
    strong_adapter(trainer / "gated", "acme/gated-base", seed=8)
    mac.mkdir()
    air.mkdir()
    mesh.start_coordinator()
    mesh.start_agent("trainer", [trainer], env=hf_env(hub, tmp_path / "hf-trainer"))
    mesh.start_agent("mac", [mac], env=hf_env(hub, tmp_path / "hf-mac"))
    mesh.start_agent("air", [air], env={**hf_env(hub, tmp_path / "hf-air"), "HF_HUB_OFFLINE": "1"})
    for h in ("trainer", "mac", "air"):
        mesh.wait_host(h)
    mesh.wait_models(lambda rows: all(version_of(rows, n) for n in ("oracle", "oracle-b", "orphan", "gated")),
                     timeout=60)
    assert not version_of(mesh.json("models", "list"), "acme/tiny-llama")  # no host holds the base

    # Bases the Hub does not give: one line naming the base and the Hub's answer; nothing deployed,
    # nothing converted, the hub pull recorded as failed.
    for adapter, on, words in (("orphan", "mac", "no such repository"), ("gated", "mac", "refused access"),
                               ("oracle", "air", "Offline")):
        result = mesh.meshctl("models", "deploy", adapter, "llamacpp", "--on", on, check=False, timeout=300)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        base = "acme/tiny-llama" if adapter == "oracle" else json.loads(
            (trainer / adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
        assert f"the base {base!r} of {adapter}:1" in result.stderr and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "hf_gate_91c2" not in result.stderr
    # `models convert` without --on fetches to the adapter's holder: refused the same way.
    result = mesh.meshctl("models", "convert", "orphan", "gguf", "--wait", check=False, timeout=300)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "the base 'acme/no-such-base' of orphan:1" in result.stderr and "no such repository" in result.stderr
    assert mesh.json("deployments", "--all") == []
    jobs = mesh.json("jobs", "--all")
    assert sorted((j["kind"], j["state"]) for j in jobs) == [("hub-pull", "failed")] * 4, jobs
    assert sorted(j["destination"] for j in jobs) == ["air", "mac", "mac", "trainer"], jobs
    assert hub.lfs_bytes_served == 0

    # A base the Hub has: pulled to mac, registered with its source, converted with the adapter, served.
    d = json.loads(mesh.meshctl("models", "deploy", "oracle", "llamacpp", "--on", "mac", "--quant", "Q8_0", "--json",
                                timeout=900).stdout)
    assert d["served_name"] == "oracle" and d["host"] == "mac" and d["source"] == "acme/tiny-llama:1", d
    assert d["adapter"].startswith("oracle")
    base = mesh.json("models", "info", "acme/tiny-llama:1")
    assert base["tags"]["hub.source"].startswith("hf.co/acme/tiny-llama")
    assert [c["host"] for c in base["copies"] if c["state"] == "verified"] == ["mac"]
    served = hub.lfs_bytes_served
    assert served == (staged / "model.safetensors").stat().st_size
    answer = json.loads(mesh.meshctl("models", "test", "oracle", "--on", "mac", "--prompt", "Tell me about llamas.",
                                     "--max-tokens", "16", "--ignore-eos", "--json", timeout=300).stdout)
    assert answer["text"] and answer["tokens"] > 0, answer

    # The next adapter on that base finds it on mac: no second download from the Hub.
    job = json.loads(mesh.meshctl("models", "convert", "oracle-b", "gguf", "--on", "mac", "--wait", "--json",
                                  timeout=900).stdout)
    assert job["state"] == "done", job
    assert hub.lfs_bytes_served == served
    assert [j["kind"] for j in mesh.json("jobs", "--all")].count("hub-pull") == 5
