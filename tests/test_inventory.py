"""The agent's inventory library: detection, metadata, digests, the hash cache, inspect, cancel."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import factories as fx
import pytest

import llmesh.agent.inventory.hash_cache as hash_cache
from llmesh.agent.inventory.gguf_header import read_gguf_header
from llmesh.agent.inventory.hash_cache import HashCache
from llmesh.agent.inventory.scanner import FileEntry, FoundModel, ScanCancelled, Scanner
from llmesh.common.errors import InvalidArgument, NotFound
from llmesh.common.hashing import manifest_digest
from llmesh.common.names import is_valid_name


@pytest.fixture
def cache():
    c = HashCache(":memory:")
    yield c
    c.close()


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "models"
    r.mkdir()
    return r


def scan(roots, cache, **kwargs):
    roots = [roots] if isinstance(roots, (str, Path)) else roots
    return Scanner([str(r) for r in roots], cache, **kwargs).scan()


def only_model(result):
    assert len(result.models) == 1, ([m.path for m in result.models], result.problems)
    return result.models[0]


def by_path(result) -> dict[str, FoundModel]:
    return {m.path: m for m in result.models}


def fake_stat(ino: int) -> os.stat_result:
    return os.stat_result((0o100644, ino, 1, 1, 0, 0, 5, 0, 0, 0), {"st_mtime_ns": 7})


def sha256_of(path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- Hugging Face directories -------------------------------------------------------------------

def test_hf_model_kind_metadata_and_files(root, cache):
    model_dir = fx.make_hf_model(root / "llama-a", layers=3, hidden=128, vocab=300)
    result = scan(root, cache)
    m = only_model(result)
    assert (m.kind, m.format, m.source, m.name) == ("model", "safetensors", "dir", "llama-a")
    assert m.path == str(model_dir)
    assert m.metadata["architecture"] == "LlamaForCausalLM"
    assert m.metadata["model_type"] == "llama"
    assert m.metadata["config"] == {
        "num_hidden_layers": 3, "hidden_size": 128, "intermediate_size": 256,
        "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 300,
        "max_position_embeddings": 2048, "torch_dtype": "float16"}
    assert m.metadata["tokenizer"] is True and m.metadata["chat_template"] is True
    assert [f.path for f in m.files] == sorted(
        ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
         "tokenizer_config.json"])
    for f in m.files:
        assert f.size == (model_dir / f.path).stat().st_size
        assert f.digest == sha256_of(model_dir / f.path)
    assert m.digest == manifest_digest(m.files)
    assert m.size_bytes == sum(f.size for f in m.files)
    assert result.problems == []


def test_sharded_model_lists_every_shard(root, cache):
    fx.make_hf_model(root / "big", shards=3)
    m = only_model(scan(root, cache))
    shards = [f.path for f in m.files if f.path.endswith(".safetensors")]
    assert shards == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    assert "model.safetensors.index.json" in [f.path for f in m.files]


def test_sharded_model_with_missing_shard_is_a_problem(root, cache):
    model_dir = fx.make_hf_model(root / "partial", shards=3)
    (model_dir / "model-00002-of-00003.safetensors").unlink()
    fx.make_hf_model(root / "whole")
    result = scan(root, cache)
    assert [m.name for m in result.models] == ["whole"]
    assert any("partial" in p and "model-00002-of-00003.safetensors" in p for p in result.problems)


def test_pytorch_bin_weights(root, cache):
    model_dir = root / "old-style"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(fx.llama_config()))
    fx.write_big_file(model_dir / "pytorch_model.bin", 5000, seed=3)
    m = only_model(scan(root, cache))
    assert (m.kind, m.format) == ("model", "pytorch")


def test_peft_adapter(root, cache):
    fx.make_peft_adapter(root / "my-lora", base="meta-llama/Llama-3.2-1B", r=16, alpha=32,
                         target_modules=("q_proj", "k_proj", "v_proj"))
    m = only_model(scan(root, cache))
    assert (m.kind, m.format, m.source) == ("lora", "safetensors", "dir")
    assert m.metadata["base_model"] == "meta-llama/Llama-3.2-1B"
    assert m.metadata["lora"] == {"r": 16, "alpha": 32, "dropout": 0.05,
                                  "target_modules": ["q_proj", "k_proj", "v_proj"],
                                  "peft_type": "LORA", "task_type": "CAUSAL_LM"}
    assert {f.path for f in m.files} == {"adapter_config.json", "adapter_model.safetensors"}


def test_dir_with_config_but_no_weights_is_not_claimed(root, cache):
    parent = root / "project"
    parent.mkdir()
    (parent / "config.json").write_text("{}")
    fx.make_hf_model(parent / "inner")
    m = only_model(scan(root, cache))
    assert m.path == str(parent / "inner")


def test_claimed_dir_is_not_searched_for_nested_models(root, cache):
    outer = fx.make_hf_model(root / "outer")
    fx.make_peft_adapter(outer / "extras" / "lora")
    m = only_model(scan(root, cache))
    assert m.path == str(outer)
    assert "extras/lora/adapter_config.json" in [f.path for f in m.files]


def test_names_are_valid_and_generic_dirs_take_their_parent(root, cache):
    fx.make_hf_model(root / "My Model (v2)!")
    fx.make_trainer_output(root / "llama-sft" / "outputs", checkpoints=1)
    names = sorted(m.name for m in scan(root, cache).models)
    assert names == ["My-Model-v2", "llama-sft-outputs"]
    assert all(is_valid_name(n) for n in names)


# -- training runs ------------------------------------------------------------------------------

def test_training_run_adapter_excludes_checkpoints(root, cache):
    run = fx.make_trainer_output(root / "run1", adapter=True, checkpoints=2)
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-30", "checkpoint-60"]
    result = scan(root, cache)
    m = only_model(result)
    assert (m.kind, m.format, m.source, m.path) == ("lora", "safetensors", "training-run", str(run))
    paths = [f.path for f in m.files]
    assert not any(p.startswith("checkpoint-") for p in paths)
    assert {"adapter_model.safetensors", "trainer_state.json", "training_args.json",
            "all_results.json"} <= set(paths)
    state = json.loads((run / "trainer_state.json").read_text())
    t = m.metadata["training"]
    assert t["final_loss"] == fx.TRAIN_LOSSES[-1] == 1.6
    assert t["best_loss"] == min(fx.TRAIN_LOSSES) == 1.5
    assert t["final_eval_loss"] == fx.EVAL_LOSSES[-1]
    assert t["best_metric"] == min(fx.EVAL_LOSSES)
    assert (t["epochs"], t["global_step"], t["max_steps"]) == (fx.EPOCHS, 60, 60)
    assert t["train_batch_size"] == fx.BATCH_SIZE
    assert t["log_steps"] == len(state["log_history"]) == 8
    assert t["args"]["learning_rate"] == fx.LEARNING_RATE
    assert t["args"]["batch_size"] == fx.BATCH_SIZE
    assert t["args"]["gradient_accumulation_steps"] == fx.GRAD_ACCUM
    assert t["args"]["num_epochs"] == fx.EPOCHS
    assert t["args"]["sequence_length"] == fx.SEQ_LEN
    assert m.metadata["lora"]["r"] == 8


def test_training_run_full_model(root, cache):
    run = fx.make_trainer_output(root / "full-ft", adapter=False, checkpoints=3)
    m = only_model(scan(root, cache))
    assert (m.kind, m.source) == ("model", "training-run")
    assert m.metadata["architecture"] == "LlamaForCausalLM"
    assert len(list(run.glob("checkpoint-*"))) == 3
    assert not any("checkpoint" in f.path for f in m.files)


def test_unfinished_run_reports_no_checkpoints(root, cache):
    run = fx.make_trainer_output(root / "crashed", adapter=True, checkpoints=2)
    for f in ("adapter_model.safetensors", "adapter_config.json"):
        (run / f).unlink()
    result = scan(root, cache)
    assert result.models == [] and result.problems == []


def test_non_finite_losses_do_not_break_json(root, cache):
    run = fx.make_trainer_output(root / "nan-run", checkpoints=1)
    state = json.loads((run / "trainer_state.json").read_text())
    state["log_history"].append({"step": 70, "loss": float("nan")})
    (run / "trainer_state.json").write_text(json.dumps(state))
    m = only_model(scan(root, cache))
    json.dumps(m.to_dict(), allow_nan=False)
    assert m.metadata["training"]["final_loss"] == fx.TRAIN_LOSSES[-1]


# -- digests ------------------------------------------------------------------------------------

def test_same_content_in_two_dirs_has_one_digest(root, cache):
    a = fx.make_hf_model(root / "a", seed=7)
    fx.copy_model(a, root / "nested" / "b")
    fx.make_hf_model(root / "c", seed=8)
    models = {m.name: m for m in scan(root, cache).models}
    assert models["a"].digest == models["b"].digest
    assert models["a"].digest != models["c"].digest


def test_one_changed_byte_changes_the_digest(root, cache):
    a = fx.make_hf_model(root / "a")
    b = fx.copy_model(a, root / "b")
    weights = b / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    models = {m.name: m for m in scan(root, cache).models}
    assert models["a"].digest != models["b"].digest
    changed = [f.path for f, g in zip(models["a"].files, models["b"].files) if f != g]
    assert changed == ["model.safetensors"]


def test_hash_workers_do_not_change_digests(root):
    fx.make_hf_model(root / "a", shards=4)
    fx.make_gguf(root / "x.gguf")
    one = scan(root, HashCache(":memory:"), hash_workers=1)
    four = scan(root, HashCache(":memory:"), hash_workers=4)
    assert [m.digest for m in one.models] == [m.digest for m in four.models]


# -- Hugging Face cache -------------------------------------------------------------------------

def test_hf_cache_snapshot_through_symlinks(tmp_path, cache):
    hub = tmp_path / "hub"
    snapshot = fx.make_hf_cache(hub, repo_id="org/tiny-llama")
    assert os.path.islink(snapshot / "model.safetensors")
    assert os.readlink(snapshot / "model.safetensors").startswith("../../blobs/")
    plain = fx.make_hf_model(tmp_path / "plain" / "tiny-llama")
    for scan_root in (hub, tmp_path):  # the root is the hub cache, or holds one deeper
        result = scan(scan_root, HashCache(":memory:"))
        m = by_path(result)[str(snapshot)]
        assert (m.kind, m.format, m.source, m.name) == ("model", "safetensors", "hf-cache",
                                                        "org/tiny-llama")
        assert m.metadata["hf"] == {"repo_id": "org/tiny-llama", "revision": snapshot.name}
        assert ".gitattributes" not in [f.path for f in m.files]
        assert m.metadata["config"]["hidden_size"] == 64
    assert m.digest == by_path(result)[str(plain)].digest  # the same bytes, one identity


def test_hf_cache_lora_and_gguf_repos(tmp_path, cache):
    hub = tmp_path / "hub"
    lora = fx.make_hf_cache(hub, repo_id="me/tiny-lora", kind="lora")
    gguf_snap = fx.make_hf_cache(hub, repo_id="TheBloke/tiny-GGUF", kind="gguf")
    models = by_path(scan(hub, cache))
    assert models[str(lora)].kind == "lora" and models[str(lora)].source == "hf-cache"
    g = models[str(gguf_snap / "tiny.Q8_0.gguf")]
    assert (g.kind, g.format, g.source) == ("gguf", "gguf", "hf-cache")
    assert g.name == "TheBloke/tiny-GGUF"
    assert g.metadata["gguf"]["quantization"] == "Q8_0"
    assert g.metadata["hf"]["repo_id"] == "TheBloke/tiny-GGUF"


def test_hf_cache_two_revisions_are_two_models(tmp_path, cache):
    hub = tmp_path / "hub"
    first = fx.make_hf_cache(hub, revision="a" * 40, seed=1)
    second = fx.make_hf_cache(hub, revision="b" * 40, seed=2)
    models = by_path(scan(hub, cache))
    assert set(models) == {str(first), str(second)}
    assert models[str(first)].digest != models[str(second)].digest


def test_hf_cache_missing_blob_is_a_problem(tmp_path, cache):
    snapshot = fx.make_hf_cache(tmp_path / "hub")
    os.unlink(os.path.realpath(snapshot / "model.safetensors"))
    result = scan(tmp_path / "hub", cache)
    assert result.models == []
    assert any(str(snapshot) in p and "broken symlink" in p for p in result.problems)


# -- Ollama -------------------------------------------------------------------------------------

def test_ollama_store(tmp_path, cache):
    store = tmp_path / "ollama" / "models"
    latest = fx.make_ollama_store(store, name="tinyllama")
    tagged = fx.make_ollama_store(store, name="qwen", tag="7b-q4", namespace="someone", seed=3)
    result = scan(tmp_path, cache)
    models = by_path(result)
    m = models[str(latest)]
    assert (m.kind, m.format, m.source, m.name) == ("gguf", "gguf", "ollama", "tinyllama")
    assert models[str(tagged)].name == "someone/qwen-7b-q4"
    manifest = json.loads(latest.read_text())
    layers = {layer["mediaType"].rsplit(".", 1)[-1]: layer for layer in manifest["layers"]}
    files = {f.path: f for f in m.files}
    assert set(files) == {"model.gguf", "template", "params"}
    assert files["model.gguf"].digest == layers["model"]["digest"]
    assert files["model.gguf"].size == layers["model"]["size"]
    assert m.metadata["ollama"] == {
        "registry": "registry.ollama.ai", "namespace": "library", "name": "tinyllama",
        "tag": "latest", "manifest_digest": sha256_of(latest)}
    assert m.metadata["gguf"]["name"] == "tinyllama"
    assert m.metadata["gguf"]["quantization"] == "F16"
    assert m.metadata["chat_template"] is True
    assert result.problems == []


def test_ollama_tampered_blob_is_a_problem(tmp_path, cache):
    store = tmp_path / "store"
    bad = fx.make_ollama_store(store, name="bad")
    good = fx.make_ollama_store(store, name="good", seed=5)
    blob_digest = json.loads(bad.read_text())["layers"][0]["digest"]
    blob = store / "blobs" / blob_digest.replace(":", "-")
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    blob.write_bytes(bytes(data))
    result = scan(store, cache)
    assert [m.path for m in result.models] == [str(good)]
    assert any(str(bad) in p and "does not match its name" in p for p in result.problems)


def test_ollama_missing_blob_is_a_problem(tmp_path, cache):
    store = tmp_path / "store"
    manifest = fx.make_ollama_store(store)
    digest = json.loads(manifest.read_text())["layers"][1]["digest"]
    (store / "blobs" / digest.replace(":", "-")).unlink()
    result = scan(store, cache)
    assert result.models == []
    assert any("is missing" in p for p in result.problems)


# -- GGUF ---------------------------------------------------------------------------------------

def test_loose_gguf_model_and_adapter(root, cache):
    model = fx.make_gguf(root / "q" / "tiny-Q4_K_M.gguf", file_type=15, context_length=512)
    f32 = fx.make_gguf(root / "tiny-f32.gguf", file_type=0, seed=2)
    adapter = fx.make_gguf(root / "q" / "tiny-lora.gguf", adapter=True,
                           base_model="meta-llama/Llama-3.2-1B")
    models = by_path(scan(root, cache))
    m = models[str(model)]
    assert (m.kind, m.format, m.source, m.name) == ("gguf", "gguf", "file", "tiny-Q4_K_M")
    assert [f.path for f in m.files] == ["tiny-Q4_K_M.gguf"]
    assert m.files[0].digest == sha256_of(model)
    g = m.metadata["gguf"]
    assert g["quantization"] == "Q4_K_M" and g["file_type"] == 15
    assert (g["architecture"], g["name"], g["type"], g["context_length"]) == ("llama", "tiny",
                                                                             "model", 512)
    assert g["parameter_count"] == fx.gguf_parameter_count(model)
    assert g["tensor_count"] == 6 and g["version"] == 3
    assert m.metadata["architecture"] == "llama" and m.metadata["tokenizer"] is True
    assert models[str(f32)].metadata["gguf"]["quantization"] == "F32"
    a = models[str(adapter)]
    assert (a.kind, a.format) == ("lora", "gguf")
    assert a.metadata["gguf"]["type"] == "adapter"
    assert a.metadata["lora"]["alpha"] == 16.0
    assert a.metadata["base_model"] == "meta-llama/Llama-3.2-1B"


def test_split_gguf_is_one_model(root, cache):
    parts = [fx.make_gguf(root / f"big-0000{i}-of-00003.gguf", seed=i) for i in (1, 2, 3)]
    fx.make_gguf(root / "half-00001-of-00002.gguf")
    result = scan(root, cache)
    m = only_model(result)
    assert m.path == str(parts[0]) and m.name == "big"
    assert [f.path for f in m.files] == [p.name for p in parts]
    assert m.metadata["gguf"]["parameter_count"] == sum(fx.gguf_parameter_count(p) for p in parts)
    assert any("half-00001-of-00002.gguf" in p and "1 of 2 parts" in p for p in result.problems)


def test_fast_gguf_reader_agrees_with_gguf_reader(tmp_path):
    import gguf

    path = fx.make_gguf(tmp_path / "m.gguf", file_type=7, context_length=1024)
    header = read_gguf_header(str(path))
    reader = gguf.GGUFReader(str(path))
    assert header.tensor_count == len(reader.tensors)
    assert header.parameter_count == sum(int(t.n_elements) for t in reader.tensors)
    for key in ("general.architecture", "general.name", "general.file_type",
                "llama.context_length"):
        assert header.fields[key] == reader.fields[key].contents()
    assert header.array_lengths["tokenizer.ggml.tokens"] == 32


# -- bad files ----------------------------------------------------------------------------------

def test_corrupt_files_are_problems_and_other_models_survive(root, cache):
    good = fx.make_hf_model(root / "good")
    (root / "garbage.gguf").write_bytes(os.urandom(4096))
    whole = fx.make_gguf(root / "whole.gguf")
    (root / "truncated.gguf").write_bytes(whole.read_bytes()[:-3000])
    bad_config = fx.make_hf_model(root / "bad-config")
    (bad_config / "config.json").write_text('{\n  "model_type": "llama",\n}\n')
    bad_adapter = fx.make_peft_adapter(root / "bad-adapter")
    (bad_adapter / "adapter_config.json").write_text("{not json")
    result = scan(root, cache)
    assert set(by_path(result)) == {str(good), str(whole)}
    problems = "\n".join(result.problems)
    assert f"{root / 'garbage.gguf'}: not a valid GGUF file: bad magic" in problems
    assert f"{root / 'truncated.gguf'}: not a valid GGUF file: truncated" in problems
    assert f"{bad_config}: config.json is not valid JSON: line 3 column 1" in problems
    assert f"{bad_adapter}: adapter_config.json is not valid JSON: line 1" in problems
    assert len(result.problems) == 4


def test_missing_and_non_directory_roots_are_problems(tmp_path, cache):
    good = tmp_path / "good"
    fx.make_gguf(good / "m.gguf")
    (tmp_path / "file-root").write_text("x")
    result = scan([tmp_path / "nope", tmp_path / "file-root", good], cache)
    assert len(result.models) == 1
    assert result.problems == [f"{tmp_path / 'nope'}: model root does not exist",
                               f"{tmp_path / 'file-root'}: model root is not a directory"]


def test_symlink_loops_do_not_hang(root, cache):
    model = fx.make_hf_model(root / "a" / "m")
    os.symlink(root / "a", root / "a" / "loop")           # dir symlink back up
    os.symlink(root / "self", root / "self")               # a link to itself
    os.symlink("ping", root / "pong")
    os.symlink("pong", root / "ping")
    result = scan(root, cache)
    assert [m.path for m in result.models] == [str(model)]


def test_directory_symlinks_are_not_followed(tmp_path, cache):
    root = tmp_path / "root"
    root.mkdir()
    fx.make_hf_model(tmp_path / "outside" / "m")
    os.symlink(tmp_path / "outside", root / "linked")
    assert scan(root, cache).models == []


def test_hidden_dirs_are_skipped_except_known_layouts(root, cache):
    fx.make_hf_model(root / ".git" / "m")
    fx.make_hf_model(root / ".cache" / "pip" / "m")
    snapshot = fx.make_hf_cache(root / ".cache" / "huggingface" / "hub")
    manifest = fx.make_ollama_store(root / ".ollama" / "models")
    assert set(by_path(scan(root, cache))) == {str(snapshot), str(manifest)}


def test_overlapping_roots_report_each_model_once(root, cache):
    fx.make_hf_model(root / "sub" / "m")
    assert len(scan([root, root / "sub"], cache).models) == 1


def test_vanished_file_mid_scan(root, cache, monkeypatch):
    victim = fx.make_hf_model(root / "victim")
    fx.make_hf_model(root / "survivor", seed=1)
    real_hash = hash_cache.hash_file

    def delete_then_hash(path, *args, **kwargs):
        if Path(path) == victim / "model.safetensors":
            os.unlink(path)
        return real_hash(path, *args, **kwargs)

    monkeypatch.setattr(hash_cache, "hash_file", delete_then_hash)
    result = scan(root, cache)
    assert [m.name for m in result.models] == ["survivor"]
    assert result.problems == [f"{victim}: model.safetensors vanished during the scan"]


def test_file_changed_while_hashing_is_not_cached(root, cache, monkeypatch):
    model = fx.make_hf_model(root / "m")
    weights = model / "model.safetensors"
    real_hash = hash_cache.hash_file

    def hash_then_append(path, *args, **kwargs):
        out = real_hash(path, *args, **kwargs)
        if Path(path) == weights:  # rewritten in place (bytes past the tensors would be corrupt)
            st = os.stat(path)
            with open(path, "r+b") as f:
                f.seek(-1, os.SEEK_END)
                f.write(b"\x01")
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        return out

    monkeypatch.setattr(hash_cache, "hash_file", hash_then_append)
    result = scan(root, cache)
    assert result.models == []
    assert "changed while being hashed" in result.problems[0]
    assert cache.get(os.stat(weights)) is None
    monkeypatch.setattr(hash_cache, "hash_file", real_hash)
    m = only_model(scan(root, cache))
    assert [f.digest for f in m.files if f.path == "model.safetensors"] == [sha256_of(weights)]


def test_unreadable_file_is_a_problem(root, cache, monkeypatch):
    locked = fx.make_hf_model(root / "locked")
    fx.make_gguf(root / "fine.gguf")
    real_hash = hash_cache.hash_file

    def refuse(path, *args, **kwargs):  # chmod 000 means nothing to root, so fake the refusal
        if Path(path) == locked / "tokenizer.json":
            raise PermissionError(13, "Permission denied", str(path))
        return real_hash(path, *args, **kwargs)

    monkeypatch.setattr(hash_cache, "hash_file", refuse)
    result = scan(root, cache)
    assert [m.name for m in result.models] == ["fine"]
    assert result.problems == [f"{locked}: tokenizer.json is unreadable: permission denied"]


def test_bad_ollama_manifest_is_a_problem(tmp_path, cache):
    store = tmp_path / "store"
    good = fx.make_ollama_store(store, name="good")
    bad = fx.make_ollama_store(store, name="bad", seed=2)
    bad.write_text('{"schemaVersion": 2, "layers": [')
    result = scan(store, cache)
    assert [m.path for m in result.models] == [str(good)]
    assert result.problems == [f"{bad}: not a valid Ollama manifest (not JSON: line 1 column 33)"]


# -- the cache ----------------------------------------------------------------------------------

def test_rescan_hashes_nothing_and_touched_file_is_rehashed(root, tmp_path):
    fx.make_hf_model(root / "a")
    fx.make_peft_adapter(root / "b")
    fx.make_gguf(root / "c.gguf")
    db = tmp_path / "home" / "hashes.sqlite"
    with HashCache(db) as cache:
        first = scan(root, cache)
    n = sum(len(m.files) for m in first.models)
    assert (first.files_hashed, first.files_cached) == (n, 0)
    assert first.bytes_hashed == sum(m.size_bytes for m in first.models)
    with HashCache(db) as cache:  # a restarted agent: the cache is on disk
        second = scan(root, cache)
        assert (second.files_hashed, second.files_cached, second.bytes_hashed) == (0, n, 0)
        assert [m.digest for m in second.models] == [m.digest for m in first.models]
        touched = root / "a" / "config.json"
        st = touched.stat()
        os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        third = scan(root, cache)
    assert (third.files_hashed, third.files_cached) == (1, n - 1)
    assert [m.digest for m in third.models] == [m.digest for m in first.models]


def test_the_scan_makes_blake3_piece_indexes_in_its_one_pass_and_the_cache_keeps_them(root, tmp_path):
    from llmesh.common.pieces import compute_piece_index
    fx.make_hf_model(root / "a")
    db = tmp_path / "home" / "hashes.sqlite"
    with HashCache(db) as cache:
        first = only_model(scan(root, cache, piece_size=1024))
    weights = root / "a" / "model.safetensors"
    expected = compute_piece_index(weights, 1024, algorithm="blake3")
    assert expected.count > 1
    entry = next(f for f in first.files if f.path == "model.safetensors")
    assert entry.digest == sha256_of(weights) == expected.digest  # the file's digest: sha256 still
    assert (entry.piece_index_id, entry.piece_size) == (expected.index_id, 1024)
    with HashCache(db) as cache:  # a restarted agent: the index (and its hash) from disk, no read
        again = scan(root, cache, piece_size=1024)
        assert again.files_hashed == 0
        assert cache.get_index(weights.stat(), 1024) == expected


def test_a_sha256_piece_index_cached_before_blake3_stays_valid(root, tmp_path):
    from llmesh.common.pieces import compute_piece_index
    fx.make_hf_model(root / "a")
    weights = root / "a" / "model.safetensors"
    old = compute_piece_index(weights, 1024, algorithm="sha256")
    db = tmp_path / "home" / "hashes.sqlite"
    with HashCache(db) as cache:
        cache.put(weights.stat(), old.digest, weights, old)
    with sqlite3.connect(db) as raw:  # the row as an agent before BLAKE3 wrote it: no "hash" key
        assert "hash" not in json.loads(raw.execute("SELECT index_json FROM piece_indexes").fetchone()[0])
    with HashCache(db) as cache:
        model = only_model(scan(root, cache, piece_size=1024))
        assert cache.get_index(weights.stat(), 1024) == old
    entry = next(f for f in model.files if f.path == "model.safetensors")
    assert entry.piece_index_id == old.index_id  # what the registry may already have bound


def test_cache_batches_commits(tmp_path):
    db = tmp_path / "c.sqlite"
    cache = HashCache(db)
    f = tmp_path / "f"
    f.write_bytes(b"x")
    st = f.stat()
    cache.put(st, "sha256:" + "0" * 64, f)
    assert cache.get(st) == "sha256:" + "0" * 64

    def rows():
        with sqlite3.connect(db) as other:
            return other.execute("SELECT count(*) FROM file_digests").fetchone()[0]

    assert rows() == 0  # not committed per file
    cache.flush()
    assert rows() == 1
    fake = [fake_stat(10_000 + i) for i in range(600)]
    for s in fake:
        cache.put(s, "sha256:" + "1" * 64, "fake")
    assert rows() >= 501  # committed by the 500-row batch rule
    cache.close()
    assert rows() == 601
    assert len(HashCache(db)) == 601


def test_corrupt_cache_file_is_rebuilt(tmp_path):
    db = tmp_path / "c.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    cache = HashCache(db)
    assert len(cache) == 0
    assert (tmp_path / "c.sqlite.corrupt").exists()
    cache.close()


def test_cache_is_thread_safe(tmp_path):
    cache = HashCache(tmp_path / "c.sqlite")

    def writer(offset):
        for i in range(300):
            cache.put(fake_stat(offset + i), f"sha256:{offset + i:064x}", "p")

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.close()
    assert len(HashCache(tmp_path / "c.sqlite")) == 1200


# -- inspect ------------------------------------------------------------------------------------

def test_inspect_matches_scan(root, cache):
    model = fx.make_hf_model(root / "a")
    gguf_file = fx.make_gguf(root / "g" / "x.gguf")
    scanner = Scanner([str(root)], cache)
    scanned = by_path(scanner.scan())
    assert scanner.inspect(str(model)) == scanned[str(model)]
    assert scanner.inspect(str(gguf_file)) == scanned[str(gguf_file)]


def test_inspect_relative_path_reports_configured_root(root, cache, monkeypatch):
    fx.make_hf_model(root / "a")
    monkeypatch.chdir(root)
    m = Scanner([str(root)], cache).inspect("a")
    assert m.path == str(root / "a")


def test_inspect_refuses_paths_outside_roots(tmp_path, cache):
    root = tmp_path / "root"
    fx.make_hf_model(root / "inside")
    outside = fx.make_hf_model(tmp_path / "elsewhere")
    os.symlink(outside, root / "sneaky")
    os.symlink(outside / "model.safetensors", root / "inside-link.safetensors")
    scanner = Scanner([str(root)], cache)
    for path in (str(outside), f"{root}/../elsewhere", str(root / "sneaky"),
                 str(root / "inside-link.safetensors"),
                 str(root / "inside" / ".." / ".." / "elsewhere")):
        with pytest.raises(InvalidArgument, match="not under any model root"):
            scanner.inspect(path)
    assert scanner.inspect(str(root / "inside")).name == "inside"


def test_inspect_missing_path_is_not_found(root, cache):
    with pytest.raises(NotFound):
        Scanner([str(root)], cache).inspect(str(root / "nothing-here"))


def test_inspect_rejects_non_models_and_corrupt_models(root, cache):
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("hi")
    bad = fx.make_hf_model(root / "bad")
    (bad / "config.json").write_text('{\n  "a": 1,\n\n')
    (root / "broken.gguf").write_bytes(b"GGUF" + os.urandom(100))
    scanner = Scanner([str(root)], cache)
    with pytest.raises(InvalidArgument, match="not a recognisable model"):
        scanner.inspect(str(root / "notes"))
    with pytest.raises(InvalidArgument, match="not a recognisable model"):
        scanner.inspect(str(root / "notes" / "readme.txt"))
    with pytest.raises(InvalidArgument, match=r"config\.json is not valid JSON: line 4 column 1"):
        scanner.inspect(str(bad))
    with pytest.raises(InvalidArgument, match="not a valid GGUF file"):
        scanner.inspect(str(root / "broken.gguf"))


def test_inspect_hf_snapshot_and_ollama_manifest(root, cache):
    snapshot = fx.make_hf_cache(root / "hub")
    gguf_snap = fx.make_hf_cache(root / "hub", repo_id="o/g", kind="gguf")
    manifest = fx.make_ollama_store(root / "ollama")
    scanner = Scanner([str(root)], cache)
    m = scanner.inspect(str(snapshot))
    assert (m.source, m.name, m.metadata["hf"]["revision"]) == ("hf-cache", "org/tiny-llama",
                                                                 snapshot.name)
    assert scanner.inspect(str(snapshot.parent.parent)).path == str(snapshot)  # one revision
    g = scanner.inspect(str(gguf_snap / "tiny.Q8_0.gguf"))  # a symlink into blobs/, inside
    assert (g.source, g.kind, g.name) == ("hf-cache", "gguf", "o/g")
    o = scanner.inspect(str(manifest))
    assert (o.source, o.name) == ("ollama", "tinyllama")


# -- API shape ----------------------------------------------------------------------------------

def test_to_dict_from_dict_round_trip(root, cache):
    fx.make_trainer_output(root / "run", checkpoints=1)
    fx.make_ollama_store(root / "ollama")
    fx.make_gguf(root / "g.gguf", adapter=True)
    for m in scan(root, cache).models:
        d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
        assert FoundModel.from_dict(d) == m
        assert isinstance(FoundModel.from_dict(d).files[0], FileEntry)


def test_progress_reports_phases(root, cache):
    fx.make_hf_model(root / "a", shards=2)
    events = []
    result = Scanner([str(root)], cache, progress=events.append).scan()
    phases = [e.phase for e in events]
    assert phases[0] == "walking" and phases[-1] == "done" and "hashing" in phases
    last_hashing = [e for e in events if e.phase == "hashing"][-1]
    assert last_hashing.files_done == last_hashing.files_total == result.files_hashed
    assert last_hashing.bytes_done == last_hashing.bytes_total == result.bytes_hashed


# -- cancel -------------------------------------------------------------------------------------

def test_cancel_from_progress_stops_scan_and_next_scan_works(root, cache):
    fx.make_hf_model(root / "a")
    scanner = None

    def on_progress(event):
        if event.phase == "walking":
            scanner.cancel()

    scanner = Scanner([str(root)], cache, progress=on_progress)
    with pytest.raises(ScanCancelled):
        scanner.scan()
    scanner.progress = None
    assert len(scanner.scan().models) == 1


def test_cancel_when_idle_does_not_cancel_the_next_scan(root, cache):
    fx.make_gguf(root / "g.gguf")
    scanner = Scanner([str(root)], cache)
    scanner.cancel()
    assert len(scanner.scan().models) == 1


def test_cancel_interrupts_hashing_a_big_file(root, cache):
    fx.write_big_safetensors(root / "big" / "model.safetensors", 256 * 1024 * 1024, seed=1)
    (root / "big" / "config.json").write_text("{}")
    started = threading.Event()
    outcome = {}

    def on_progress(event):
        if event.phase == "hashing":
            started.set()

    scanner = Scanner([str(root)], cache, hash_workers=1, progress=on_progress)

    def run():
        try:
            outcome["result"] = scanner.scan()
        except ScanCancelled as e:
            outcome["cancelled"] = e

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30)
    t0 = time.monotonic()
    scanner.cancel()
    thread.join(10)
    assert not thread.is_alive()
    assert "cancelled" in outcome, outcome
    assert time.monotonic() - t0 < 2.0
    assert cache.get(os.stat(root / "big" / "model.safetensors")) is None


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_names_that_are_not_utf8_are_problems_not_crashes(root, cache):
    model = fx.make_hf_model(root / "m")
    with open(os.path.join(os.fsencode(model), b"notes-\xff.txt"), "wb") as f:
        f.write(b"x")
    os.mkdir(os.path.join(os.fsencode(root), b"dir-\xfe"))
    fx.make_gguf(root / "ok.gguf")
    result = scan(root, cache)
    assert [m.name for m in result.models] == ["ok"]
    assert result.problems == [f"{root}: skipped 'dir-\\udcfe', a name that is not valid UTF-8",
                               f"{model}: 'notes-\\udcff.txt' is not a valid UTF-8 name"]
    for line in result.problems:
        line.encode("utf-8")


def test_cache_write_failure_does_not_fail_the_scan(root, tmp_path, caplog):
    fx.make_gguf(root / "g.gguf")
    db = tmp_path / "c.sqlite"
    cache = HashCache(db)
    other = sqlite3.connect(db)
    other.execute("BEGIN EXCLUSIVE")  # another process holds the database
    cache._db.execute("PRAGMA busy_timeout=10")
    first = scan(root, cache)
    assert len(first.models) == 1 and first.files_hashed == 1
    assert "could not save" in caplog.text
    assert scan(root, cache).files_hashed == 0  # still cached in memory
    other.rollback()
    other.close()
    cache.close()


# -- nothing outside the roots, nothing unbounded -----------------------------------------------

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----\n"


def plant_link(target, at) -> None:
    os.unlink(at)
    os.symlink(target, at)


def test_a_file_link_out_of_the_roots_is_a_problem_and_never_read(tmp_path, cache):
    root, outside = tmp_path / "root", tmp_path / "outside"
    good = fx.make_hf_model(root / "good")
    leaky = fx.make_hf_model(root / "leaky", seed=1)
    donor = fx.make_hf_model(outside / "donor", seed=2)  # valid weights: only the link is wrong
    plant_link(donor / "model.safetensors", leaky / "model.safetensors")
    config_leak = fx.make_hf_model(root / "config-leak", seed=3)
    (outside / "settings.json").write_text('{"architectures": ["Secret"], "model_type": "secret"}')
    plant_link(outside / "settings.json", config_leak / "config.json")
    fx.make_gguf(outside / "private.gguf", name="private-name")
    os.symlink(outside / "private.gguf", root / "loose.gguf")
    ollama = root / "ollama"
    manifest = fx.make_ollama_store(ollama, name="tinyllama")
    blob = next(p for p in (ollama / "blobs").iterdir() if p.stat().st_size > 1000)  # the GGUF
    (outside / "blob").write_bytes(blob.read_bytes())
    plant_link(outside / "blob", blob)
    result = scan(root, cache)
    assert [m.path for m in result.models] == [str(good)]
    assert sorted(result.problems) == sorted([
        f"{leaky}: model.safetensors leads outside this agent's model roots (to {donor / 'model.safetensors'})",
        f"{config_leak}: config.json leads outside this agent's model roots (to {outside / 'settings.json'})",
        f"{root}: loose.gguf leads outside this agent's model roots (to {outside / 'private.gguf'})",
        f"{manifest}: blob {blob.name} (model) leads outside this agent's model roots (to {outside / 'blob'})",
    ])
    for secret in (donor / "model.safetensors", outside / "blob"):
        assert cache.get(os.stat(secret)) is None  # never hashed
    with pytest.raises(InvalidArgument, match="model.safetensors leads outside"):
        Scanner([str(root)], cache).inspect(str(leaky))


def test_a_file_link_inside_the_roots_is_followed(tmp_path, cache):
    first, second = tmp_path / "first", tmp_path / "second"
    model = fx.make_hf_model(first / "m")
    (first / "weights").mkdir()  # not a model: no config.json
    os.replace(model / "model.safetensors", first / "weights" / "w.safetensors")
    os.symlink(first / "weights" / "w.safetensors", model / "model.safetensors")
    other = fx.make_hf_model(second / "m2", seed=1)
    os.replace(other / "tokenizer.json", first / "weights" / "tokenizer.json")
    os.symlink(first / "weights" / "tokenizer.json", other / "tokenizer.json")  # into another root
    result = scan([first, second], cache)
    assert sorted(m.path for m in result.models) == [str(model), str(other)] and not result.problems
    weights = next(f for f in by_path(result)[str(model)].files if f.path == "model.safetensors")
    assert weights.digest == sha256_of(first / "weights" / "w.safetensors")


def test_confined_open_refuses_links_out_and_swaps(tmp_path, monkeypatch):
    from llmesh.agent.inventory import confinement
    from llmesh.common.errors import PermissionDenied

    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "id_rsa").write_bytes(SECRET)
    (root / "weights").write_bytes(b"inside")
    os.symlink(outside / "id_rsa", root / "leak")
    os.symlink(root / "weights", root / "alias")
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo")
    rooms = confinement.Confinement([root])
    for path in (root / "weights", root / "alias"):
        fd = rooms.open(path)
        assert os.read(fd, 100) == b"inside"
        os.close(fd)
    with pytest.raises(PermissionDenied, match="outside this agent's model roots"):
        rooms.open(root / "leak")
    if hasattr(os, "mkfifo"):
        with pytest.raises(PermissionDenied, match="not a regular file"):
            rooms.open(root / "fifo")  # at once: a FIFO must not block the Peer service
    real_open = os.open

    def swap_then_open(path, *args):  # the file is replaced between the check and the open
        fd = real_open(outside / "id_rsa", *args)
        monkeypatch.setattr(confinement.os, "open", real_open)
        return fd

    monkeypatch.setattr(confinement.os, "open", swap_then_open)
    with pytest.raises(PermissionDenied, match="changed while it was being opened"):
        rooms.open(root / "weights")


def test_bad_metadata_is_one_problem_and_the_scan_goes_on(root, cache):
    good = fx.make_hf_model(root / "good")
    nested = fx.make_hf_model(root / "nested", seed=1)
    (nested / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    huge = fx.make_peft_adapter(root / "huge-adapter")
    with open(huge / "adapter_config.json", "w") as f:  # 17 MiB of valid JSON
        f.write('{"r": 8, "pad": "' + "x" * (17 * 1024 * 1024) + '"}')
    deep_value = fx.make_peft_adapter(root / "deep-value", r=4)
    cfg = json.loads((deep_value / "adapter_config.json").read_text())
    (deep_value / "adapter_config.json").write_text(
        json.dumps(cfg)[:-1] + ', "lora_alpha": ' + "[" * 500 + "]" * 500 + "}")
    ollama = root / "ollama"
    manifest = fx.make_ollama_store(ollama)
    manifest.write_text("{" * 100_000)
    for _ in range(2):  # every rescan, not only the first
        result = scan(root, cache)
        assert sorted(m.path for m in result.models) == [str(deep_value), str(good)]
        assert len(result.problems) == 3, result.problems
        problems = "\n".join(result.problems)
        assert f"{nested}: config.json is not usable JSON: nested too deeply" in problems
        assert f"{huge}: adapter_config.json is larger than 16 MiB" in problems
        assert f"{manifest}: not a valid Ollama manifest" in problems
        assert "alpha" not in by_path(result)[str(deep_value)].metadata["lora"]  # scalars only


def safetensors_bytes(header, data: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


def tensor(dtype, shape, begin, end) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


GOOD_TENSORS = {"a": tensor("F32", [2], 0, 8), "b": tensor("U8", [3], 8, 11)}


@pytest.mark.parametrize("content, error", [
    (b"\x01\x02", "too short"),
    (safetensors_bytes(GOOD_TENSORS, bytes(11))[:40], "runs past the end of the file"),
    ((2**40).to_bytes(8, "little") + bytes(64), "runs past the end of the file"),
    (safetensors_bytes({**GOOD_TENSORS, "b": tensor("U8", [12], 8, 20)}, bytes(11)),
     "past the end of the data"),
    (safetensors_bytes({**GOOD_TENSORS, "b": tensor("U8", [3], 4, 7)}, bytes(11)), "overlaps"),
    (safetensors_bytes({**GOOD_TENSORS, "a": tensor("F32", [3], 0, 8)}, bytes(11)),
     "is not the 8 bytes"),
    (safetensors_bytes({**GOOD_TENSORS, "b": tensor("U8", [3], 9, 12)}, bytes(12)),
     "1 bytes before tensor 'b' belong to no tensor"),
    (safetensors_bytes(GOOD_TENSORS, bytes(12)), "1 bytes after the last tensor"),
    (safetensors_bytes({"a": tensor("F32", [-2], 0, 8)}, bytes(8)), "no valid shape"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2]}}, bytes(8)), "no valid data_offsets"),
    (safetensors_bytes(b"{not json", b""), "not valid JSON"),
    (safetensors_bytes(b"[" * 100_000 + b"]" * 100_000, b""), "nested too deeply"),
    (safetensors_bytes(b"\xff\xfe", b""), "not UTF-8"),
], ids=["short", "cut-header", "huge-length", "past-end", "overlap", "size", "hole", "tail",
        "shape", "offsets", "json", "nested", "utf8"])
def test_corrupt_safetensors_headers_are_refused_as_the_library_does(tmp_path, content, error):
    from safetensors.numpy import load

    from llmesh.agent.inventory.safetensors_header import read_safetensors_header

    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=error):
        read_safetensors_header(path)
    with pytest.raises(Exception):  # noqa: B017 - the reference reader refuses it too
        load(content)


def test_valid_safetensors_headers_pass(tmp_path):
    from llmesh.agent.inventory.safetensors_header import read_safetensors_header

    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes({"__metadata__": {"format": "pt"}, **GOOD_TENSORS}, bytes(11)))
    header = read_safetensors_header(path)
    assert (header.tensor_count, header.parameter_count) == (2, 5)
    path.write_bytes(safetensors_bytes({"n": tensor("F9_FUTURE", [3], 0, 5)}, bytes(5)))
    assert read_safetensors_header(path).tensor_count == 1  # a newer dtype: offsets checked only
    fx.write_big_safetensors(path, 1024 * 1024, seed=1)
    assert read_safetensors_header(path).parameter_count == 1024 * 1024 - 136


def test_corrupt_safetensors_are_problems_not_models(root, cache):
    good = fx.make_hf_model(root / "good")
    cut = fx.make_hf_model(root / "cut", seed=1)
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[:len(data) // 2])
    shard = fx.make_hf_model(root / "sharded", shards=2)
    (shard / "model-00002-of-00002.safetensors").write_bytes((10**6).to_bytes(8, "little") + b"{}")
    adapter = fx.make_peft_adapter(root / "adapter")
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00" * 4)
    result = scan(root, cache)
    assert [m.path for m in result.models] == [str(good)]
    assert sorted(p.split(" is not a valid safetensors file")[0] for p in result.problems) == sorted([
        f"{adapter}: adapter_model.safetensors", f"{cut}: model.safetensors",
        f"{shard}: model-00002-of-00002.safetensors"])
    with pytest.raises(InvalidArgument, match="model.safetensors is not a valid safetensors file"):
        Scanner([str(root)], cache).inspect(str(cut))


def test_the_hash_cache_is_readable_by_its_owner_alone(tmp_path, root):
    import stat

    fx.make_gguf(root / "g.gguf")
    db = tmp_path / "home" / "hash-cache.db"
    with HashCache(db) as cache:
        scan(root, cache)
        for name in ("hash-cache.db", "hash-cache.db-wal", "hash-cache.db-shm"):
            assert stat.S_IMODE((db.parent / name).stat().st_mode) == 0o600, name
    old = tmp_path / "old" / "hash-cache.db"  # written by an agent before this rule
    with HashCache(old) as cache:
        scan(root, cache)
    for path in old.parent.iterdir():
        os.chmod(path, 0o644)
    with HashCache(old) as cache:
        assert len(cache) == 1
        assert {stat.S_IMODE(p.stat().st_mode) for p in old.parent.iterdir()} == {0o600}
