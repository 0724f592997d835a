"""The catalog end to end: a real coordinator and agent, driven through the real meshctl
(and the SDK where the SDK is the thing tested). One mesh for the module; each test
works on its own model names so that they do not interfere."""
import json
import os
import subprocess
import sys
import time

import pytest
from factories import (
    BATCH_SIZE,
    GRAD_ACCUM,
    LEARNING_RATE,
    SEQ_LEN,
    make_gguf,
    make_hf_model,
    make_peft_adapter,
    make_trainer_output,
)
from harness import REPO, Mesh, version_of, wait_for


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    base = tmp_path_factory.mktemp("catalog")
    root = base / "trainer"
    for seed in (1, 2, 3):
        make_hf_model(root / f"llama-{seed}", seed=seed)
    make_hf_model(root / "base-model", seed=7)
    make_trainer_output(root / "code" / "runs" / "oracle", adapter=True, checkpoints=1)
    make_peft_adapter(root / "asm-lora", base="meta-llama/Llama-3.2-1B", seed=5)
    make_peft_adapter(root / "chat-lora", base="llama-base", seed=6)
    make_gguf(root / "llama-q8.gguf", name="tiny-q8", file_type=7)
    # The training code's checkout holds the run dir (as in a repo that writes runs/ beside its scripts).
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(root / "code")], check=True)
    (root / "code" / "train.py").write_text("print('train')\n")
    subprocess.run([*git, "-C", str(root / "code"), "add", "train.py"], check=True)
    subprocess.run([*git, "-C", str(root / "code"), "commit", "-q", "-m", "train"], check=True)
    commit = subprocess.run(["git", "-C", str(root / "code"), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    mesh = Mesh(base)
    mesh.start_coordinator()
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: version_of(rows, "llama-3") and version_of(rows, "chat-lora"), timeout=60)
    mesh.root, mesh.commit = root, commit
    yield mesh
    mesh.close()


def fails(mesh, *args, env=None) -> str:
    """Run meshctl expecting one clear error line and exit 1; returns the message."""
    result = mesh.meshctl(*args, check=False, env=env)
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0][len("error: "):]


def register(mesh, path, name, *extra) -> dict:
    return json.loads(mesh.meshctl("models", "register", str(mesh.root / path), "--host", "trainer",
                                   "--name", name, *extra, "--json").stdout)


def new_model(mesh, dir_name, seed) -> str:
    """Fresh content under the agent's root (registering inspects it on demand)."""
    make_hf_model(mesh.root / dir_name, seed=seed)
    return dir_name


def llama_ft(mesh) -> None:
    """llama-ft v1..v3 (registering identical content again returns the existing version)."""
    for seed in (1, 2, 3):
        register(mesh, f"llama-{seed}", "llama-ft")


def test_register_from_training_output_fills_in_what_it_can_read(cat):
    result = register(cat, "code/runs/oracle", "oracle", "--dataset", "oracle_farore@sha256:abc",
                      "--dataset", "toolbench", "--framework", "unsloth", "--hardware", "RTX 5060 Ti",
                      "--duration", "1h 15m", "--cost", "0.8", "--notes", "first run", "--semver", "1.0.0",
                      "--role", "asm", "--capability", "text", "--metric", "accuracy=0.85")
    v = result["version"]
    assert result["created"] and (v["name"], v["version"], v["kind"]) == ("oracle", 1, "lora")
    assert (v["state"], v["status"], v["semver"]) == ("active", "ready", "1.0.0")
    assert v["code_commit"] == cat.commit  # read from the checkout holding the run dir
    assert v["params"]["learning_rate"] == LEARNING_RATE and v["params"]["batch_size"] == BATCH_SIZE
    assert v["params"]["gradient_accumulation_steps"] == GRAD_ACCUM and v["params"]["sequence_length"] == SEQ_LEN
    training = v["metadata"]["training"]
    assert training["final_loss"] > 0 and training["best_loss"] <= training["final_loss"]
    assert training["epochs"] > 0 and training["global_step"] > 0 and training["log_steps"] > 0
    assert v["metadata"]["lora"]["r"] > 0 and v["base_model"] == "meta-llama/Llama-3.2-1B"
    assert v["datasets"] == [{"name": "oracle_farore", "digest": "sha256:abc"}, {"name": "toolbench", "digest": ""}]
    assert (v["framework"], v["hardware"], v["duration_s"], v["cost_usd"]) == ("unsloth", "RTX 5060 Ti", 4500.0, 0.8)
    assert v["metrics"] == {"accuracy": 0.85} and v["capabilities"] == {"text": True} and v["roles"] == ["asm"]
    info = cat.meshctl("models", "info", "oracle:1").stdout
    for text in ("Semver", "1.0.0", "unsloth", "oracle_farore", cat.commit, "accuracy", "learning_rate", "asm"):
        assert text in info, text


def test_versions_semver_and_identical_content(cat):
    for i, seed in enumerate((1, 2, 3), start=1):
        v = register(cat, f"llama-{seed}", "llama-ft", *(["--semver", f"1.{i}.0"] if i < 3 else []))["version"]
        assert v["version"] == i
    again = register(cat, "llama-1", "llama-ft")
    assert again["created"] is False and again["version"]["version"] == 1
    rows = cat.json("models", "versions", "llama-ft")
    assert [(v["version"], v["semver"]) for v in rows] == [(1, "1.1.0"), (2, "1.2.0"), (3, "")]
    assert "v3" in cat.meshctl("models", "versions", "llama-ft").stdout
    assert "already the label of llama-ft:1" in fails(cat, "models", "edit", "llama-ft:3", "--semver", "1.1.0")
    assert "invalid semver" in fails(cat, "models", "edit", "llama-ft:3", "--semver", "one")
    assert cat.json("models", "edit", "llama-ft:3", "--semver", "2.0.0-rc1")["semver"] == "2.0.0-rc1"
    assert "unknown model 'nope'" in fails(cat, "models", "versions", "nope")
    assert "has no version 9 (versions: 1, 2, 3)" in fails(cat, "models", "info", "llama-ft:9")


def test_lifecycle_moves_are_checked_and_recorded(cat):
    register(cat, new_model(cat, "life-model", 40), "life")
    assert cat.json("models", "deprecate", "life:1", "--reason", "replaced")["state"] == "deprecated"
    assert cat.json("models", "archive", "life:1")["state"] == "archived"
    assert "cannot go from archived to deprecated" in fails(cat, "models", "deprecate", "life:1")
    assert "is already archived" in fails(cat, "models", "archive", "life:1")
    assert cat.json("models", "restore", "life:1")["state"] == "active"
    assert "cannot go from active to draft" in fails(cat, "models", "state", "life:1", "draft")
    assert "unknown model 'ghost'" in fails(cat, "models", "deprecate", "ghost:1")
    events = [e for e in cat.json("events", "--resource", "life:1", "--limit", "20") if e["action"] == "model.state"]
    assert [(e["detail"]["from"], e["detail"]["to"]) for e in events] == [
        ("active", "deprecated"), ("deprecated", "archived"), ("archived", "active")]
    assert events[0]["detail"]["reason"] == "replaced" and all(e["actor"] for e in events)


def test_draft_versions_get_their_weights_later(cat):
    result = json.loads(cat.meshctl("models", "register", "--name", "future", "--state", "training",
                                    "--dataset", "d1", "--json").stdout)
    v = result["version"]
    assert (v["version"], v["state"], v["status"]) == (1, "training", "pending")
    assert v["digest"].startswith("pending:")
    assert "has no weights yet" in fails(cat, "models", "state", "future:1", "active")
    assert "has no verified weights" in fails(cat, "models", "alias", "set", "future:1", "staging")
    assert "needs --name" in fails(cat, "models", "register", "--state", "draft")
    assert "give a PATH to register" in fails(cat, "models", "register", "--name", "future")
    filled = register(cat, new_model(cat, "future-model", 41), "future")
    v = filled["version"]
    assert "draft future:1" in filled["message"]
    assert (v["version"], v["state"], v["status"]) == (1, "active", "ready") and v["digest"].startswith("sha256:")
    assert v["datasets"] == [{"name": "d1", "digest": ""}]


def test_aliases_history_rollback_and_protection(cat):
    for path, seed in (("svc-a", 11), ("svc-b", 12), ("svc-c", 13)):
        register(cat, new_model(cat, path, seed), "svc")
    assert [v["version"] for v in cat.json("models", "versions", "svc")] == [1, 2, 3]
    cat.meshctl("models", "alias", "set", "svc:1", "staging")
    cat.meshctl("models", "alias", "set", "svc:2", "staging", "--reason", "better")
    cat.meshctl("models", "alias", "set", "svc:3", "staging")
    assert cat.json("models", "info", "svc@staging")["version"] == 3
    assert cat.json("models", "info", "svc:3")["aliases"] == ["staging"]
    rolled = cat.json("models", "rollback", "svc", "--alias", "staging", "--deprecate")
    assert (rolled["from_version"], rolled["to_version"], rolled["action"]) == (3, 2, "rollback")
    assert cat.json("models", "info", "svc:3")["state"] == "deprecated"
    assert cat.json("models", "rollback", "svc", "--alias", "staging")["to_version"] == 1
    assert "no earlier version" in fails(cat, "models", "rollback", "svc", "--alias", "staging")
    history = cat.json("models", "alias", "history", "svc", "--alias", "staging")
    assert [(h["from_version"], h["to_version"], h["action"]) for h in history] == [
        (None, 1, "set"), (1, 2, "move"), (2, 3, "move"), (3, 2, "rollback"), (2, 1, "rollback")]
    assert history[1]["reason"] == "better" and all(h["actor"] for h in history)
    assert "staging" in cat.meshctl("models", "alias", "history", "svc").stdout

    assert "reserved" in fails(cat, "models", "alias", "set", "svc:1", "latest")
    assert "reserved" in fails(cat, "models", "alias", "set", "svc:1", "v2")
    assert "has no version 7" in fails(cat, "models", "alias", "set", "svc:7", "canary")
    assert "unknown model 'ghost'" in fails(cat, "models", "alias", "set", "ghost:1", "canary")
    assert "has no alias 'nope' (aliases: staging)" in fails(cat, "models", "info", "svc@nope")
    assert "has no alias 'nope'" in fails(cat, "models", "alias", "rm", "svc", "nope")

    # prod is protected: an operator may move staging but not prod; the admin may.
    operator = {"LLMESH_TOKEN": cat.meshctl("user", "add", "ops", "--role", "operator").stdout.strip()}
    cat.meshctl("models", "alias", "set", "svc:2", "staging", env=operator)
    assert "needs the admin role" in fails(cat, "models", "alias", "set", "svc:2", "prod", env=operator)
    cat.meshctl("models", "alias", "set", "svc:2", "prod")
    assert "needs the admin role" in fails(cat, "models", "rollback", "svc", env=operator)
    assert "needs the admin role" in fails(cat, "models", "alias", "rm", "svc", "prod", env=operator)
    viewer = {"LLMESH_TOKEN": cat.meshctl("user", "add", "watcher", "--role", "viewer").stdout.strip()}
    assert "needs" in fails(cat, "models", "alias", "set", "svc:1", "canary", env=viewer)
    removed = cat.json("models", "alias", "rm", "svc", "staging")
    assert (removed["from_version"], removed["to_version"], removed["action"]) == (2, None, "remove")
    assert "canary" not in cat.json("models", "info", "svc:1")["aliases"]


def test_lineage_tree_adapters_and_cycles(cat):
    llama_ft(cat)
    cat.meshctl("models", "edit", "llama-ft:2", "--parent", "llama-ft:1", "--dataset", "oracle")
    cat.meshctl("models", "edit", "llama-ft:3", "--parent", "llama-ft:2", "--dataset", "extra")
    q8 = register(cat, "llama-q8.gguf", "llama-q8", "--parent", "llama-ft:3")["version"]
    assert q8["parents"] == [{"name": "llama-ft", "version": 3, "relation": "quantized"}]
    tree = cat.meshctl("models", "tree", "llama-ft").stdout.splitlines()
    assert tree[0] == "llama-ft version tree:"
    assert tree[1].startswith("└── v1") and tree[2].startswith("    └── v2")
    assert tree[3].startswith("        └── v3")
    assert "-> llama-q8:1 (quantized)" in tree[3]
    lineage = cat.json("models", "lineage", "llama-q8:1")
    assert [(a["name"], a["version"], a["depth"]) for a in lineage["ancestors"]] == [
        ("llama-ft", 3, 1), ("llama-ft", 2, 2), ("llama-ft", 1, 3)]
    assert lineage["all_datasets"] == ["extra", "oracle"]
    assert lineage["data_lineage"]["llama-ft:2"] == [{"name": "oracle", "digest": ""}]
    assert "data lineage" in cat.meshctl("models", "lineage", "llama-q8:1").stdout
    assert "would make a cycle" in fails(cat, "models", "edit", "llama-ft:1", "--parent", "llama-q8:1")
    assert "cannot be its own parent" in fails(cat, "models", "edit", "llama-ft:1", "--parent", "llama-ft:1")
    assert cat.json("models", "info", "llama-ft:1")["parents"] == []  # nothing half-written

    register(cat, "base-model", "llama-base")
    register(cat, "chat-lora", "chat-lora")
    register(cat, "asm-lora", "asm-lora", "--parent", "llama-base:1")
    assert [v["name"] for v in cat.json("models", "adapters", "llama-base")] == ["asm-lora", "chat-lora"]
    assert [v["name"] for v in cat.json("models", "adapters", "meta-llama/Llama-3.2-1B")] == ["asm-lora", "oracle"]
    assert "no adapters for nothing-here" in cat.meshctl("models", "adapters", "nothing-here").stdout


def test_scores_and_compare(cat):
    llama_ft(cat)
    cat.meshctl("models", "score", "llama-ft:1", "--metric", "accuracy=0.85", "--metric", "f1_score=0.8",
                "--metric", "my_custom=3")
    scored = cat.json("models", "score", "llama-ft:2", "--metric", "accuracy=0.87", "--metric", "rouge-l=0.4")
    assert scored["metrics"] == {"accuracy": 0.87, "rougeL": 0.4}
    cat.meshctl("models", "edit", "llama-ft:2", "--param", "learning_rate=0.0001", "--param", "optim=adamw")
    cat.meshctl("models", "edit", "llama-ft:1", "--param", "learning_rate=0.0002")
    result = cat.json("models", "compare", "llama-ft", "v1", "v2")
    rows = {(r["section"], r["key"]): r for r in result["rows"]}
    assert (result["a"], result["b"]) == ("llama-ft:1", "llama-ft:2")
    assert rows[("metrics", "accuracy")]["delta"] == pytest.approx(0.02)
    assert rows[("metrics", "f1")]["b"] is None and rows[("metrics", "my_custom")]["a"] == 3
    assert rows[("training config", "learning_rate")]["delta"] == pytest.approx(-0.0001)
    assert rows[("training config", "optim")]["b"] == "adamw"
    human = cat.meshctl("models", "compare", "llama-ft", "1", "2").stdout
    assert "accuracy" in human and "+0.02" in human and "learning_rate" in human
    assert "must be a finite number" in fails(cat, "models", "score", "llama-ft:1", "--metric", "accuracy=nan")
    assert "invalid metric" in fails(cat, "models", "score", "llama-ft:1", "--metric", "accuracy")
    assert "has no version 8" in fails(cat, "models", "compare", "llama-ft", "1", "8")


def test_roles_capabilities_and_resolution(cat):
    llama_ft(cat)
    cat.meshctl("models", "edit", "llama-ft:2", "--role", "caption", "--capability", "vision")
    register(cat, new_model(cat, "text-captioner", 42), "captioner", "--role", "caption", "--capability", "vision=false")
    got = cat.json("models", "resolve", "--role", "caption", "--capability", "vision")
    assert (got["version"]["name"], got["version"]["version"]) == ("llama-ft", 2)
    preferred = cat.json("models", "resolve", "--role", "caption", "--prefer", "captioner")
    assert preferred["version"]["capabilities"] == {"vision": False}
    assert preferred["version"]["name"] == "captioner" and "preferred" in preferred["reason"]
    fallback = cat.json("models", "resolve", "--role", "caption", "--capability", "vision", "--prefer", "captioner")
    assert fallback["version"]["name"] == "llama-ft" and "captioner has no active version" in fallback["reason"]
    cat.meshctl("models", "deprecate", "llama-ft:2")
    try:
        assert "no active version has role 'caption' and capabilities vision" in fails(
            cat, "models", "resolve", "--role", "caption", "--capability", "vision")
    finally:
        cat.meshctl("models", "restore", "llama-ft:2")
    assert "llama-ft:2" in cat.meshctl("models", "resolve", "--role", "caption", "--capability", "vision").stdout


def test_search_and_list_filters(cat):
    llama_ft(cat)
    register(cat, "code/runs/oracle", "oracle", "--role", "asm")
    cat.meshctl("models", "edit", "llama-ft:1", "--tag", "production", "--backend", "ollama")
    cat.meshctl("models", "score", "oracle:1", "--metric", "accuracy=0.9")
    cat.meshctl("models", "edit", "oracle:1", "--tag", "production")
    query = "tag.production = true AND metric.accuracy > 0.85 AND (role = 'asm' OR kind = 'lora')"
    assert [(v["name"], v["version"]) for v in cat.json("models", "search", query)] == [("oracle", 1)]
    found = cat.json("models", "search", "tag.production = true", "--sort", "metric.accuracy:desc", "--limit", "5")
    assert [v["name"] for v in found] == ["oracle", "llama-ft"]
    assert "oracle" in cat.meshctl("models", "search", query).stdout
    assert "no versions match" in cat.meshctl("models", "search", "metric.nothing > 1").stdout
    message = fails(cat, "models", "search", "metric.accuracy > AND kind = 'lora'")
    assert message == "query error at position 19: expected a value after '>', found 'AND'"
    assert "query error at position 1: unknown field 'colour'" in fails(cat, "models", "search", "colour = 'red'")
    assert [v["name"] for v in cat.json("models", "list", "--role", "asm")] == ["oracle"]
    assert [v["name"] for v in cat.json("models", "list", "--can-serve", "ollama", "--tag", "production")] == ["llama-ft"]
    assert {v["name"] for v in cat.json("models", "list", "--query", "kind = 'lora'", "--host", "trainer")} >= {
        "oracle", "asm-lora", "chat-lora"}
    assert "query error at position 6" in fails(cat, "models", "list", "--query", "kind ~ 1")


def test_listings_by_column_hold_every_row_and_key_of_the_per_version_answer(cat):
    """The SDK asks for listings by column; what it reads must be exactly what the one-message-per-version
    answer gives (the answer older SDKs still get): no row, key or value lost on the way."""
    from llmesh.common import wire
    from llmesh.sdk.client import MeshClient
    from llmesh.v1 import catalog_pb2, mesh_pb2

    llama_ft(cat)
    cat.meshctl("models", "edit", "llama-ft:2", "--role", "asm", "--role", "caption", "--tag", "team=x",
                "--capability", "vision=false", "--param", "lr=2e-4", "--param", "name=a b", "--metric", "f1=0.5",
                "--duration", "90m", "--dataset", "oracle@sha256:ab", "--parent", "llama-ft:1", "--backend", "ollama")
    with MeshClient.connect(None, cat.env(cat.base / "coord-home")) as client:
        def per_version(rpc, request):
            return [wire.to_dict(v) for v in client._call(rpc, request).versions]

        listed = client.list_models()
        assert len(listed) >= 5 and listed == per_version(client._mesh.ListModels, mesh_pb2.ListModelsRequest())
        asm = client.list_models(role="asm")
        assert {v["name"] for v in asm} >= {"llama-ft", "oracle"}
        assert asm == per_version(client._mesh.ListModels, mesh_pb2.ListModelsRequest(role="asm"))
        edited = next(v for v in asm if (v["name"], v["version"]) == ("llama-ft", 2))
        assert (edited["params"]["lr"], edited["params"]["name"], edited["duration_s"]) == (2e-4, "a b", 5400.0)
        assert edited["parents"] == [{"name": "llama-ft", "version": 1, "relation": "finetune"}]
        query = "kind = 'model' OR role = 'asm'"
        found = client.search(query, sort="name", limit=50)
        assert found and found == per_version(client._catalog.Search,
                                              catalog_pb2.SearchRequest(query=query, sort="name", limit=50))
    assert cat.json("models", "list") == json.loads(json.dumps(listed))  # meshctl shows the same rows


def test_large_listings_come_in_pages_that_join_into_the_whole_answer(cat):
    """A big registry's listing would outgrow gRPC's message limit in one answer: the SDK reads it
    in pages. Pages of any size join into exactly the one-answer listing, filtered or not."""
    from llmesh.common.errors import InvalidArgument
    from llmesh.sdk.client import MeshClient
    from llmesh.v1 import mesh_pb2

    with MeshClient.connect(None, cat.env(cat.base / "coord-home")) as client:
        whole = client.list_models(page_size=0)
        assert len(whole) >= 5
        for size in (1, 2, len(whole) - 1, len(whole), len(whole) + 1):
            assert client.list_models(page_size=size) == whole, size
        kind = whole[0]["kind"]
        assert client.list_models(kind=kind, page_size=1) == client.list_models(kind=kind, page_size=0)
        first = client._call(client._mesh.ListModels, mesh_pb2.ListModelsRequest(page_size=2))
        assert len(first.versions) == 2 and first.next_page_token
        last = client._call(client._mesh.ListModels, mesh_pb2.ListModelsRequest(page_size=len(whole)))
        assert len(last.versions) == len(whole) and last.next_page_token == ""
        with pytest.raises(InvalidArgument, match="^page_token 'garbage' is not a token this coordinator gave"):
            client._call(client._mesh.ListModels, mesh_pb2.ListModelsRequest(page_size=2, page_token="garbage"))
        with pytest.raises(InvalidArgument, match="^page_size must be at most 10000"):
            client.list_models(page_size=10_001)


def test_verify_lock_and_drift(cat):
    make_hf_model(cat.root / "locked-model", seed=21)
    v = register(cat, "locked-model", "locked")["version"]
    assert v["locked"] is False
    ok = cat.json("models", "verify", "locked:1", "--lock")
    assert ok["locked"] and ok["status"] == "ready" and [c["outcome"] for c in ok["copies"]] == ["ok"]
    weights = cat.root / "locked-model" / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, same mtime: only a full re-hash can see it
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    result = cat.meshctl("models", "verify", "locked:1", "--json", check=False)
    assert result.returncode == 1 and "is locked and drifted on trainer:" in result.stderr
    report = json.loads(result.stdout)
    assert [c["outcome"] for c in report["drifted"]] == ["drifted"] and report["status"] == "failed"
    info = cat.json("models", "info", "locked:1")
    assert [c["state"] for c in info["copies"]] == ["drifted"] and info["locked"]
    cat.meshctl("rescan", "--host", "trainer")  # a scan trusting its hash cache must not clear the drift
    time.sleep(1.0)
    wait_for(lambda: not cat.host("trainer")["scanning"], 30, "rescan")
    assert [c["state"] for c in cat.json("models", "info", "locked:1")["copies"]] == ["drifted"]
    assert "cannot lock locked:1: no copy matches" in fails(cat, "models", "verify", "locked:1", "--lock")
    assert "has no weights to verify" in fails(
        cat, "models", "verify", json.loads(cat.meshctl("models", "register", "--name", "empty", "--state", "draft",
                                                        "--json").stdout)["version"]["name"] + ":1")
    assert any(e["action"] == "model.drift" for e in cat.json("events", "--resource", "locked:1"))
    summary = cat.json("models", "summary")
    assert summary["locked"] >= 1 and summary["copies"]["drifted"] >= 1 and summary["models"] >= 5
    assert "locked: " in cat.meshctl("models", "summary").stdout


def test_a_scan_that_sees_a_locked_copy_change_marks_it_drifted_and_makes_no_version(cat):
    make_hf_model(cat.root / "frozen-dir", seed=23)
    register(cat, "frozen-dir", "frozen")
    cat.json("models", "verify", "frozen:1", "--lock")
    weights = cat.root / "frozen-dir" / "model.safetensors"
    original = weights.read_bytes()
    digests_before = {v["digest"] for v in cat.json("models", "list")}

    def copy_states():
        return [c["state"] for c in cat.json("models", "info", "frozen:1")["copies"]]

    changed = bytearray(original)
    changed[-1] ^= 0xFF
    weights.write_bytes(bytes(changed))  # a new mtime: the scan hashes it again and sees other content
    cat.meshctl("rescan", "--host", "trainer")
    wait_for(lambda: copy_states() == ["drifted"], 60, "the locked copy to be marked drifted", logs=cat.logs())
    wait_for(lambda: not cat.host("trainer")["scanning"], 30, "the rescan to finish")
    versions = cat.json("models", "versions", "frozen")
    assert [v["version"] for v in versions] == [1] and versions[0]["locked"]
    assert cat.json("models", "info", "frozen")["version"] == 1  # latest is still the locked version
    # the changed content became no version under any name
    assert {v["digest"] for v in cat.json("models", "list")} == digests_before
    assert any(e["action"] == "model.drift" for e in cat.json("events", "--resource", "frozen:1"))

    weights.write_bytes(original)  # restored: the next scan finds the locked digest at the path again
    cat.meshctl("rescan", "--host", "trainer")
    wait_for(lambda: copy_states() == ["verified"], 60, "the restored copy to be verified", logs=cat.logs())
    versions = cat.json("models", "versions", "frozen")
    assert [(v["version"], v["status"]) for v in versions] == [(1, "ready")]
    assert {v["digest"] for v in cat.json("models", "list")} == digests_before
    assert cat.json("models", "verify", "frozen:1")["status"] == "ready"


def test_summary_of_one_model_and_events_follow(cat):
    llama_ft(cat)
    cat.meshctl("models", "score", "llama-ft:1", "--metric", "accuracy=0.85")
    cat.meshctl("models", "score", "llama-ft:2", "--metric", "accuracy=0.87")
    summary = cat.json("models", "summary", "llama-ft")
    assert summary["versions"] == 3 and summary["best"]["accuracy"] == {"value": 0.87, "version": 2}
    assert "best accuracy: 0.87 (v2)" in cat.meshctl("models", "summary", "llama-ft").stdout
    assert "unknown model 'nope'" in fails(cat, "models", "summary", "nope")
    env = cat.env(cat.base / "coord-home")
    follower = subprocess.Popen([sys.executable, "-m", "llmesh.cli", "events", "--follow", "--json", "--limit", "1"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(follower.stdout.readline())  # the newest past event
        cat.meshctl("models", "score", "llama-ft:3", "--metric", "accuracy=0.5")
        while True:
            event = json.loads(follower.stdout.readline())
            assert event["id"] > first["id"]
            if event["action"] == "model.score":
                break
        assert event["resource"] == "llama-ft:3" and event["detail"]["metrics"] == {"accuracy": 0.5}
    finally:
        follower.terminate()
        follower.wait(10)


def test_sdk_training_helpers_register_at_train_end(cat):
    from llmesh.sdk.client import MeshClient
    from llmesh.sdk.training import LlmeshCallback

    out = cat.root / "hf-run"

    class Model:  # what Trainer passes as kwargs["model"]: something with save_pretrained
        def save_pretrained(self, path):
            make_peft_adapter(path, base="llama-base", seed=31)

    class State:
        is_world_process_zero = True
        log_history = [{"loss": 1.2, "step": 10}, {"eval_loss": 1.1, "eval_accuracy": 0.75, "step": 10},
                       {"train_runtime": 42.0, "step": 10}]

        def save_to_json(self, path):
            with open(path, "w") as f:
                json.dump({"log_history": self.log_history, "global_step": 10, "epoch": 1.0}, f)

    class Args:
        output_dir = str(out)
        learning_rate = 3e-4
        per_device_train_batch_size = 8
        num_train_epochs = 1
        seed = 7

    register(cat, "base-model", "llama-base")
    with MeshClient.connect(None, cat.env(cat.base / "coord-home")) as client:
        callback = LlmeshCallback("sdk-run", "trainer", client=client, datasets=["sdk-data@sha256:01"],
                                  parents=["llama-base:1"], roles=["asm"])
        assert callback.on_step_end(Args(), State(), None) is None  # other events are no-ops
        callback.on_train_end(Args(), State(), None, model=Model())
        v = callback.result["version"]
        assert (v["name"], v["kind"], v["framework"], v["duration_s"]) == ("sdk-run", "lora", "huggingface", 42.0)
        assert v["metrics"] == {"accuracy": 0.75} and v["params"]["learning_rate"] == 3e-4
        assert v["params"]["batch_size"] == 8 and v["roles"] == ["asm"]
        assert v["parents"] == [{"name": "llama-base", "version": 1, "relation": "adapter"}]
        assert v["datasets"] == [{"name": "sdk-data", "digest": "sha256:01"}]
        assert v["code_commit"]  # the checkout the test runs in
        assert "sdk-run" in [a["name"] for a in client.adapters("llama-base")]


def test_names_are_checked_whole_and_long_ones_fail_as_invalid_names(cat):
    from llmesh.common.errors import InvalidArgument
    from llmesh.sdk.client import MeshClient
    from llmesh.v1 import catalog_pb2, mesh_pb2

    path = str(cat.root / new_model(cat, "names-model", 61))
    long_names = ("x" * 100_000, "y" * 129)
    for bad in ("trail\n", *long_names):
        message = fails(cat, "models", "register", path, "--host", "trainer", "--name", bad)
        assert message.startswith("invalid model name") and len(message) < 300, message
    for bad in long_names:
        assert fails(cat, "models", "info", bad).startswith("invalid model name")
    register(cat, "names-model", "names-ok")
    assert "invalid alias" in fails(cat, "models", "alias", "set", "names-ok:1", "beta\n")
    assert "invalid host name" in fails(cat, "models", "rm", "names-ok:1", "--from", "h" * 100_000)
    assert "invalid tag" in fails(cat, "models", "edit", "names-ok:1", "--tag", "stage\n=2")
    # The coordinator checks them too, for a client that skips the SDK's checks.
    with MeshClient.connect(None, cat.env(cat.base / "coord-home")) as client:
        for bad in ("trail\n", *long_names):
            with pytest.raises(InvalidArgument, match="^invalid model name") as refused:
                client._call(client._catalog.Register, catalog_pb2.CatalogRegisterRequest(
                    host="trainer", path=path, name=bad))
            assert len(str(refused.value)) < 300
        for bad in long_names:
            with pytest.raises(InvalidArgument, match="^invalid model name"):
                client._call(client._mesh.GetModel, mesh_pb2.GetModelRequest(ref=bad))
        with pytest.raises(InvalidArgument, match="^invalid tag"):
            client._call(client._catalog.Edit, catalog_pb2.EditRequest(ref="names-ok:1", tags={"stage\n": "2"}))


def test_nonsense_numbers_and_tags_are_refused_in_the_cli_and_the_domain(cat):
    from llmesh.common.errors import InvalidArgument
    from llmesh.sdk.client import MeshClient

    register(cat, new_model(cat, "numbers-model", 62), "numbers")
    usage = [("models", "edit", "numbers:1", "--cost", "-5"), ("audit", "--limit", "-1"),
             ("events", "--limit", "-1"), ("models", "search", "name = 'numbers'", "--limit", "-1")]
    for args in usage:  # click's usage errors: exit 2, before anything is sent
        result = cat.meshctl(*args, check=False)
        assert result.returncode == 2 and "Invalid value" in result.stderr and "Traceback" not in result.stderr, args
        assert result.stderr.startswith("error: meshctl ") and result.stderr.count("\n") == 1, result.stderr
    assert "token lifetime must be between" in fails(cat, "token", "create", "--ttl", "0s")
    assert "invalid tag '='" in fails(cat, "models", "list", "--tag", "=")
    assert "invalid tag '=x'" in fails(cat, "models", "list", "--tag", "=x")
    with MeshClient.connect(None, cat.env(cat.base / "coord-home")) as client:  # the domain refuses them too
        refusals = {"cost_usd must be 0 or more": lambda: client.edit("numbers:1", cost_usd=-5),
                    "duration_s must be 0 or more": lambda: client.edit("numbers:1", duration_s=-1),
                    "token lifetime": lambda: client.create_join_token("agent", 0),
                    "limit must be between": lambda: client.audit(limit=-1),
                    "limit must be between ": lambda: list(client.events(limit=-1)),
                    "limit must be between  ": lambda: client.search("name = 'numbers'", limit=-1),
                    "invalid tag": lambda: client.list_models(tags=["="])}
        for message, call in refusals.items():
            with pytest.raises(InvalidArgument, match=message.strip()):
                call()
        assert client.model("numbers:1")["cost_usd"] is None
        assert client.edit("numbers:1", cost_usd=0.0) and client.model("numbers:1")["cost_usd"] == 0.0


def test_typed_reports_give_back_the_registry_shapes():
    """The reports travel as typed messages; the SDK gives back exactly the registry's dicts."""
    from llmesh.coordinator.catalog import messages
    from llmesh.sdk import catalog_reports
    from llmesh.v1 import catalog_pb2 as pb

    def through_the_wire(message):  # serialized and parsed, as a client receives it
        return type(message).FromString(message.SerializeToString())

    def node(version, **extra):
        return {"version": version, "semver": "", "label": "", "state": "active", "status": "ready", "kind": "model",
                "aliases": [], "relation": "", "external_parents": [], "derived": [], "children": [], **extra}

    # A chain of 300 fine-tunes nests 300 deep in the tree, not on the wire (protobuf stops at 100).
    tree = {"name": "deep", "roots": [node(1, aliases=["prod"])]}
    tip = tree["roots"][0]
    for version in range(2, 301):
        tip["children"].append(node(version, relation="finetune"))
        tip = tip["children"][0]
    tip["derived"] = [{"name": "other", "version": 4, "relation": "quantized"}]
    tree["roots"].append(node(301, external_parents=[{"name": "base", "version": 1, "relation": "adapter"}]))
    tree["roots"][0]["children"].append(node(302, relation="merge"))
    assert catalog_reports.version_tree(through_the_wire(messages.version_tree(tree))) == tree

    values = [None, "text", "", 0, -3, 2 ** 70, 1.5, 0.0, True, False, [], ["a", "b"], [1, {"x": None}], {"k": [1]}]
    rows = [{"section": "version", "key": f"k{i}", "a": v, "b": v, "delta": v, "same": True}
            for i, v in enumerate(values)]
    result = {"name": "m", "a": "m:1", "b": "m:2", "rows": rows}
    back = catalog_reports.comparison(through_the_wire(messages.comparison(result)))
    assert back == result and [type(r["a"]) for r in back["rows"]] == [type(v) for v in values]

    lineage = {"ref": "m:2", "base_model": "", "code_commit": "abc", "datasets": [{"name": "d", "digest": ""}],
               "ancestors": [{"name": "m", "version": 1, "relation": "finetune", "depth": 1, "child": "m:2",
                              "kind": "lora", "state": "active", "base_model": "b", "code_commit": "",
                              "datasets": []}],
               "children": [{"name": "q", "version": 1, "relation": "quantized"}],
               "data_lineage": {"m:2": [{"name": "d", "digest": ""}], "m:1": []}, "all_datasets": ["d"]}
    assert catalog_reports.version_lineage(through_the_wire(messages.version_lineage(lineage))) == lineage

    empty = {"models": 0, "versions": 0, "registered": 0, "by_kind": {}, "by_state": {}, "by_status": {},
             "hosts": 0, "copies": {}, "locked": 0, "aliases": 0, "total_bytes": 0, "models_list": []}
    assert catalog_reports.summary(through_the_wire(messages.summary(empty, ""))) == empty
    model = {"name": "m", "versions": 0, "by_state": {}, "aliases": {}, "latest": None, "best": {}, "list": []}
    assert catalog_reports.summary(through_the_wire(messages.summary(model, "m"))) == model

    copies = [{"copy_id": 1, "host": "h", "path": "/p", "outcome": "drifted", "digest": "sha256:b", "error": ""},
              {"copy_id": 2, "host": "h", "path": "/q", "outcome": "ok", "digest": "sha256:a", "error": ""}]
    report = {"ref": "m:1", "digest": "sha256:a", "locked": True, "status": "failed", "copies": copies,
              "drifted": copies[:1]}
    assert catalog_reports.verify_result(through_the_wire(messages.verify_result(report))) == report

    document = {"format": "llmesh-registry", "models": [{"name": "m", "versions": [{}, {}]}], "hosts": []}
    exported = through_the_wire(messages.export(document))
    assert (exported.models, exported.versions) == (1, 2)
    assert catalog_reports.export_document(exported) == document
    assert not hasattr(pb, "JsonResponse")
