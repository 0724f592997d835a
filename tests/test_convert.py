"""Safetensors -> GGUF, LoRA -> GGUF LoRA, and llama.cpp quantization, on tiny real models.

Every GGUF is read back with gguf's own reader and compared tensor by tensor with the source;
llama.cpp itself (llama-cpp-python) loads the results and generates tokens.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from factories import make_hf_model, make_peft_adapter
from gguf import GGMLQuantizationType as QT
from tokenizers_for_tests import MERGES, make_runnable_llama

from llmesh.agent.convert import gguf_writer
from llmesh.agent.convert import lora as convert_lora
from llmesh.agent.convert import model as convert
from llmesh.agent.convert.checkpoint import open_checkpoint
from llmesh.agent.convert.lora import convert_lora_to_gguf
from llmesh.agent.convert.model import SUPPORTED_QUANTS, convert_model, convert_to_gguf
from llmesh.agent.convert.quantize import quantize
from llmesh.common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed "
                    "(pip install 'llmesh[test]')")

# Runs in a child process: a crash inside llama.cpp fails one test instead of the whole run.
_LLAMA_CHILD = """
import json, sys, llama_cpp
path, lora, prompt, max_tokens = sys.argv[1], sys.argv[2] or None, sys.argv[3], int(sys.argv[4])
llm = llama_cpp.Llama(model_path=path, lora_path=lora, n_ctx=128, seed=1, verbose=False)
out = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0,
                            logit_bias={2: -100.0})   # random weights: keep EOS away
print(json.dumps({"n_vocab": llm.n_vocab(), "text": out["choices"][0]["text"],
                  "finish_reason": out["choices"][0]["finish_reason"],
                  "tokenized": llm.tokenize(prompt.encode(), add_bos=False),
                  "bos_first": llm.tokenize(prompt.encode(), add_bos=True)[0]}))
llm.close()
"""


def run_llama(model: Path | str, prompt: str = "the", max_tokens: int = 4, lora=None) -> dict:
    """Load `model` in real llama.cpp and generate; what it reports, as a dict."""
    proc = subprocess.run([sys.executable, "-c", _LLAMA_CHILD, str(model), str(lora or ""),
                           prompt, str(max_tokens)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"llama.cpp failed ({proc.returncode}): {proc.stderr[-800:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def hf_to_llama_cpp_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """The q/k row order llama.cpp expects, written independently of agent.convert."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def source_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    return {name: np.array(ref.array()) for name, ref in open_checkpoint(model_dir).items()}


def expected_gguf_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    """Each source tensor under its GGUF name, q/k rows in llama.cpp's order, as float32."""
    config = json.loads((model_dir / "config.json").read_text())
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    out = {}
    for name, w in source_tensors(model_dir).items():
        target = convert.gguf_tensor_name(name)
        w = w.astype(np.float32)
        if target.endswith("attn_q.weight"):
            w = hf_to_llama_cpp_rows(w, heads)
        elif target.endswith("attn_k.weight"):
            w = hf_to_llama_cpp_rows(w, kv_heads)
        out[target] = w
    return out


def read_gguf(path: Path) -> tuple[dict[str, np.ndarray], dict[str, QT], gguf.GGUFReader]:
    reader = gguf.GGUFReader(str(path))
    values = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).reshape(
        tuple(int(d) for d in reversed(t.shape))) for t in reader.tensors}
    types = {t.name: t.tensor_type for t in reader.tensors}
    return values, types, reader


def field(reader: gguf.GGUFReader, key: str):
    return reader.get_field(key).contents()


def no_outputs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.suffix in (".gguf", ".partial")
                  or p.name.endswith(".partial"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_runnable_llama(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tiny_f16(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "tiny.F16.gguf"
    convert_to_gguf(tiny, out)
    return out


@pytest.fixture(scope="module")
def wide_f16(tmp_path_factory) -> Path:
    """hidden 256: rows as long as a K-quant block, so Q4_K really is used."""
    model = make_runnable_llama(tmp_path_factory.mktemp("wide") / "model", hidden=256, seed=3)
    out = model.parent / "wide.F16.gguf"
    convert_to_gguf(model, out)
    return out


# -- conversion ---------------------------------------------------------------------------------

def test_f16_gguf_holds_every_source_tensor_exactly(tiny, tiny_f16):
    values, types, reader = read_gguf(tiny_f16)
    expected = expected_gguf_tensors(tiny)
    assert set(values) == set(expected)
    for name, want in expected.items():
        assert values[name].shape == want.shape, name
        # F16 in, F16 out (norms widened to F32): no rounding at all.
        np.testing.assert_array_equal(values[name], want, err_msg=name)
        assert types[name] == (QT.F32 if want.ndim == 1 else QT.F16), name
    # The permutation really moved rows: comparing with the unpermuted source must fail.
    q = source_tensors(tiny)["model.layers.0.self_attn.q_proj.weight"].astype(np.float32)
    assert not np.array_equal(values["blk.0.attn_q.weight"], q)


def test_f16_gguf_metadata_is_what_llama_cpp_needs(tiny, tiny_f16):
    _, _, reader = read_gguf(tiny_f16)
    config = json.loads((tiny / "config.json").read_text())
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "general.file_type") == int(gguf.LlamaFileType.MOSTLY_F16)
    assert field(reader, "llama.block_count") == config["num_hidden_layers"]
    assert field(reader, "llama.embedding_length") == config["hidden_size"]
    assert field(reader, "llama.feed_forward_length") == config["intermediate_size"]
    assert field(reader, "llama.attention.head_count") == config["num_attention_heads"]
    assert field(reader, "llama.attention.head_count_kv") == config["num_key_value_heads"]
    assert field(reader, "llama.context_length") == config["max_position_embeddings"]
    assert field(reader, "llama.rope.dimension_count") == (
        config["hidden_size"] // config["num_attention_heads"])
    assert field(reader, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-5)
    tokenizer = json.loads((tiny / "tokenizer.json").read_text())
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert field(reader, "tokenizer.ggml.model") == "gpt2"
    assert len(tokens) == config["vocab_size"]
    assert all(tokens[i] == t for t, i in tokenizer["model"]["vocab"].items())
    assert field(reader, "tokenizer.ggml.merges") == [f"{a} {b}" for a, b in MERGES]
    assert field(reader, "tokenizer.ggml.bos_token_id") == 1
    assert field(reader, "tokenizer.ggml.eos_token_id") == 2
    assert field(reader, "tokenizer.ggml.token_type")[:3] == [int(gguf.TokenType.CONTROL)] * 3
    template = json.loads((tiny / "tokenizer_config.json").read_text())["chat_template"]
    assert field(reader, "tokenizer.chat_template") == template


def test_fast_metadata_packing_writes_the_same_bytes_as_gguf(tiny, tiny_f16, tmp_path,
                                                            monkeypatch):
    monkeypatch.setattr(gguf_writer, "PackedGGUFWriter", gguf.GGUFWriter)
    plain = convert_to_gguf(tiny, tmp_path / "plain.gguf")["path"]
    assert Path(plain).read_bytes() == tiny_f16.read_bytes()


def test_sharded_checkpoint_converts_to_the_same_tensors(tiny_f16, tmp_path):
    sharded = make_runnable_llama(tmp_path / "sharded", shards=3)
    assert len(list(sharded.glob("*.safetensors"))) == 3
    out = convert_to_gguf(sharded, tmp_path / "sharded.gguf")["path"]
    a, _, _ = read_gguf(Path(out))
    b, _, _ = read_gguf(tiny_f16)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("arch, gguf_arch", [("mistral", "llama"), ("qwen2", "qwen2")])
def test_mistral_and_qwen2_convert_and_load(arch, gguf_arch, tmp_path):
    model = make_runnable_llama(tmp_path / arch, arch=arch)
    meta = convert_to_gguf(model, tmp_path / f"{arch}.gguf")
    assert meta["architecture"] == gguf_arch
    values, _, reader = read_gguf(Path(meta["path"]))
    assert field(reader, "general.architecture") == gguf_arch
    for name, want in expected_gguf_tensors(model).items():
        if arch == "qwen2" and name.endswith(("attn_q.weight", "attn_k.weight")):
            # qwen2 uses NEOX rope in llama.cpp: its rows are written as they are.
            want = source_tensors(model)[_hf_name(name)].astype(np.float32)
        np.testing.assert_array_equal(values[name], want, err_msg=name)
    ran = run_llama(meta["path"])
    assert ran["n_vocab"] == len(field(reader, "tokenizer.ggml.tokens"))
    assert ran["finish_reason"] == "length" and ran["text"]


def _hf_name(gguf_name: str) -> str:
    layer = gguf_name.split(".")[1]
    return f"model.layers.{layer}.self_attn.{gguf_name.split('.')[2][-1]}_proj.weight"


def test_bf16_and_f32_outputs_round_trip(tiny, tmp_path):
    expected = expected_gguf_tensors(tiny)
    for out_type, qtype in (("BF16", QT.BF16), ("F32", QT.F32)):
        values, types, _ = read_gguf(Path(convert_to_gguf(tiny, tmp_path / f"{out_type}.gguf",
                                                          out_type=out_type)["path"]))
        for name, want in expected.items():
            assert types[name] == (QT.F32 if want.ndim == 1 else qtype)
            # bf16 keeps 8 bits of mantissa: relative error below 2^-8.
            np.testing.assert_allclose(values[name], want, rtol=2 ** -8, atol=1e-7,
                                       err_msg=name)


def test_q8_0_is_within_its_quantization_error(tiny, tmp_path):
    values, types, reader = read_gguf(Path(convert_to_gguf(tiny, tmp_path / "q8.gguf",
                                                           out_type="Q8_0")["path"]))
    assert field(reader, "general.file_type") == int(gguf.LlamaFileType.MOSTLY_Q8_0)
    for name, want in expected_gguf_tensors(tiny).items():
        if want.ndim == 1:
            continue
        assert types[name] == QT.Q8_0
        # Q8_0: blocks of 32 scaled by max|w|/127, so no error exceeds half a step.
        blocks = want.reshape(-1, 32)
        step = np.abs(blocks).max(axis=1, keepdims=True) / 127
        err = np.abs(values[name].reshape(-1, 32) - blocks)
        assert np.all(err <= step * 0.5 + 1e-4), name


# -- quantization through llama.cpp -------------------------------------------------------------

def test_quantize_to_q4_k_m_with_llama_cpp(wide_f16, tmp_path):
    out = tmp_path / "wide.Q4_K_M.gguf"
    seen = []
    result = quantize(wide_f16, out, "Q4_K_M", progress=lambda *a: seen.append(a))
    assert result["quantization"] == "Q4_K_M" and out.is_file()
    assert out.stat().st_size < wide_f16.stat().st_size * 0.5
    source, _, _ = read_gguf(wide_f16)
    values, types, reader = read_gguf(out)
    assert field(reader, "general.file_type") == int(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    assert QT.Q4_K in set(types.values())
    for name, value in values.items():
        want = source[name]
        if types[name] in (QT.F32, QT.F16):
            continue
        # 4-5 bit K-quants of Gaussian weights: error well under a third of their spread.
        rel = np.sqrt(np.mean((value - want) ** 2)) / np.sqrt(np.mean(want ** 2))
        assert rel < 0.3, (name, types[name], rel)
    assert seen and seen[-1][0] == "quantize" and seen[-1][1] == seen[-1][2]
    assert no_outputs(tmp_path) == ["wide.Q4_K_M.gguf"]


@pytest.mark.parametrize("quant, qtype", [("Q4_0", QT.Q4_0), ("Q5_K_M", QT.Q5_K),
                                          ("Q6_K", QT.Q6_K), ("Q8_0", QT.Q8_0)])
def test_other_llama_cpp_quantizations(wide_f16, tmp_path, quant, qtype):
    out = tmp_path / f"wide.{quant}.gguf"
    quantize(wide_f16, out, quant, threads=2)
    _, types, _ = read_gguf(out)
    assert qtype in set(types.values())


def test_llama_cpp_loads_the_conversion_and_generates(tiny, tiny_f16, tmp_path):
    vocab = json.loads((tiny / "tokenizer.json").read_text())["model"]["vocab"]
    ran = run_llama(tiny_f16, prompt="in the", max_tokens=8)
    # llama.cpp's BPE applies the merges by rank: "t h" first, then "th e"; "Ġ th" is no
    # merge, so " the" stays two tokens, as Hugging Face's tokenizer splits it too.
    assert ran["tokenized"] == [vocab["in"], vocab["\u0120"], vocab["the"]]
    assert ran["bos_first"] == 1
    # It ran to max_tokens (EOS is biased away) and decoded some text.
    assert ran["finish_reason"] == "length" and ran["text"]
    q4 = quantize(tiny_f16, tmp_path / "tiny.Q4_K_M.gguf", "Q4_K_M")["path"]
    assert run_llama(q4)["finish_reason"] == "length"


def test_convert_model_quantizes_in_one_call(tmp_path):
    model = make_runnable_llama(tmp_path / "m", hidden=256)
    stages = set()
    meta = convert_model(model, tmp_path / "m.Q4_K_M.gguf", quant="q4_k_m",
                         progress=lambda stage, done, total: stages.add(stage))
    assert meta["file_type"] == "Q4_K_M" and stages == {"convert", "quantize"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.Q4_K_M.gguf"]
    ran = run_llama(meta["path"])
    assert ran["finish_reason"] == "length" and ran["text"]


# -- LoRA adapters -------------------------------------------------------------------------------

def test_peft_lora_converts_to_a_gguf_lora_llama_cpp_loads(tiny, tiny_f16, tmp_path):
    adapter = make_peft_adapter(tmp_path / "adapter", base=str(tiny), alpha=16,
                                target_modules=("q_proj", "o_proj"), hidden=64, layers=2)
    out = tmp_path / "adapter.gguf"
    meta = convert_lora_to_gguf(adapter, out, base_config=tiny)
    assert meta["lora_alpha"] == 16.0 and meta["tensor_count"] == 8
    values, _, reader = read_gguf(out)
    assert field(reader, "general.type") == "adapter"
    assert field(reader, "adapter.type") == "lora"
    assert field(reader, "adapter.lora.alpha") == pytest.approx(16.0)
    assert field(reader, "general.architecture") == "llama"
    src = {n: np.array(r.array()) for n, r in open_checkpoint(adapter, "adapter_model").items()}
    prefix = "base_model.model.model.layers.0.self_attn."
    np.testing.assert_allclose(values["blk.0.attn_q.weight.lora_a"],
                               src[prefix + "q_proj.lora_A.weight"], rtol=1e-3, atol=1e-6)
    # B is permuted like the base's q rows (n_head=4), o_proj's is not.
    np.testing.assert_allclose(values["blk.0.attn_q.weight.lora_b"],
                               hf_to_llama_cpp_rows(src[prefix + "q_proj.lora_B.weight"], 4),
                               rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(values["blk.1.attn_output.weight.lora_b"],
                               src["base_model.model.model.layers.1.self_attn.o_proj"
                                   ".lora_B.weight"], rtol=1e-3, atol=1e-6)
    adapted = run_llama(tiny_f16, max_tokens=8, lora=out)   # llama.cpp checks the shapes
    assert adapted["finish_reason"] == "length" and adapted["text"]


def test_lora_base_config_found_from_adapter_config(tiny, tmp_path):
    adapter = make_peft_adapter(tmp_path / "adapter", base=str(tiny), target_modules=("o_proj",))
    assert convert_lora_to_gguf(adapter, tmp_path / "a.gguf")["architecture"] == "llama"
    # The agent's conversion jobs call it through the module (agent.convert.jobs).
    assert convert_lora.convert_lora_to_gguf(adapter, tmp_path / "a2.gguf")["tensor_count"] == 4
    hub_adapter = make_peft_adapter(tmp_path / "hub", base="meta-llama/Llama-3.2-1B")
    with pytest.raises(FailedPrecondition, match="base model's config.json is needed"):
        convert_lora_to_gguf(hub_adapter, tmp_path / "b.gguf")
    assert not (tmp_path / "b.gguf").exists()


# -- errors: one clear line, nothing left behind --------------------------------------------------

def test_unsupported_architecture_is_refused(tmp_path):
    model = make_hf_model(tmp_path / "gpt2")
    config = json.loads((model / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidArgument) as err:
        convert_to_gguf(model, tmp_path / "out.gguf")
    assert str(err.value) == ("unsupported architecture 'GPT2LMHeadModel': llmesh converts "
                              "llama, mistral and qwen2 models")
    assert no_outputs(tmp_path) == []


def test_unknown_quantization_is_refused(tiny, tiny_f16, tmp_path):
    with pytest.raises(InvalidArgument, match="unknown quantization 'Q7_Z'") as err:
        convert_model(tiny, tmp_path / "x.gguf", quant="Q7_Z")
    assert "Q4_K_M" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InvalidArgument, match="unknown quantization"):
        quantize(tiny_f16, tmp_path / "y.gguf", "Q3_Q")
    with pytest.raises(InvalidArgument, match="unknown output type"):
        convert_to_gguf(tiny, tmp_path / "z.gguf", out_type="Q4_K_M")
    assert no_outputs(tmp_path) == []
    assert {"Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16", "BF16"} <= set(SUPPORTED_QUANTS)


@pytest.mark.parametrize("damage", ["truncate", "garbage-header", "huge-header"])
def test_corrupt_safetensors_fails_cleanly(tmp_path, damage):
    model = make_runnable_llama(tmp_path / "m")
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) - 1000])
    elif damage == "garbage-header":
        weights.write_bytes(data[:8] + b"\xff" * 40 + data[48:])
    else:
        weights.write_bytes((2**40).to_bytes(8, "little") + data[8:])
    with pytest.raises(FailedPrecondition, match="model.safetensors is corrupt") as err:
        convert_to_gguf(model, tmp_path / "out.gguf")
    assert "\n" not in str(err.value)
    assert no_outputs(tmp_path) == []


def test_failure_while_writing_leaves_no_file(tiny, tmp_path, monkeypatch):
    calls = []

    def failing(fout, item, buf):
        calls.append(item.name)
        if len(calls) == 3:
            raise OSError("disk went away")
        fout.write(b"\0" * item.nbytes)

    monkeypatch.setattr(gguf_writer, "write_tensor", failing)
    with pytest.raises(OSError):
        convert_to_gguf(tiny, tmp_path / "out.gguf")
    assert len(calls) == 3 and no_outputs(tmp_path) == []


def test_not_enough_disk_space_is_refused_before_writing(tiny, tmp_path, monkeypatch):
    class Usage:
        total, used, free = 10**9, 10**9 - 1000, 1000

    monkeypatch.setattr(gguf_writer.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(ResourceExhausted, match="not enough disk space for out.gguf"):
        convert_to_gguf(tiny, tmp_path / "out.gguf")
    assert no_outputs(tmp_path) == []


def test_quantizer_refusal_is_one_line_and_leaves_nothing(tmp_path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(FailedPrecondition, match="llama.cpp could not quantize bogus.gguf"):
        quantize(bogus, tmp_path / "out.gguf", "Q4_K_M")
    assert no_outputs(tmp_path) == ["bogus.gguf"]


def test_missing_inputs_are_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FailedPrecondition, match="no config.json"):
        convert_to_gguf(tmp_path / "empty", tmp_path / "a.gguf")
    model = make_runnable_llama(tmp_path / "m")
    (model / "tokenizer.json").unlink()
    with pytest.raises(FailedPrecondition, match="no tokenizer.json"):
        convert_to_gguf(model, tmp_path / "b.gguf")
    model2 = make_runnable_llama(tmp_path / "m2")
    (model2 / "model.safetensors").unlink()
    with pytest.raises(FailedPrecondition, match="no .safetensors weights"):
        convert_to_gguf(model2, tmp_path / "c.gguf")
    # factories' tokenizer has 259 tokens for a 256-row embedding: refused, not truncated.
    with pytest.raises(FailedPrecondition, match="has 259 tokens but config.json says "
                                                 "vocab_size 256"):
        convert_to_gguf(make_hf_model(tmp_path / "m3"), tmp_path / "d.gguf")
    assert no_outputs(tmp_path) == []
