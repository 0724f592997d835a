"""`meshctl registry import|export`: the predecessors' registry files (written here from
the schemas in the seeds, broken ones included) and a lossless export/import round trip."""
import copy
import json

import pytest
from factories import make_hf_model, make_peft_adapter
from harness import Mesh, version_of
from test_catalog import fails

HAFS_ENTRY = {
    "model_id": "oracle-farore-general-qwen25-coder-15b-20251222", "display_name": "Oracle: Farore Secrets",
    "version": "v1", "base_model": "Qwen/Qwen2.5-Coder-1.5B", "role": "general", "group": "rom-tooling",
    "training_date": "2025-12-22T09:48:00", "training_duration_minutes": 75,
    "dataset_name": "oracle_farore_improved",
    "dataset_path": "D:/hafs_training/datasets/oracle_farore_improved_20251222_040629",
    "train_samples": 320, "val_samples": 40, "test_samples": 40,
    "dataset_quality": {"acceptance_rate": 0.867, "rejection_rate": 0.133, "avg_diversity": 0.45},
    "final_loss": 0.8245, "best_loss": 0.7891, "perplexity": 2.28,
    "lora_config": {"r": 16, "lora_alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                    "lora_dropout": 0.05},
    "hyperparameters": {"learning_rate": 0.0002, "batch_size": 2, "gradient_accumulation_steps": 4,
                        "num_epochs": 1, "sequence_length": 2048},
    "hardware": "windows-rtx-5060", "device": "cuda",
    "model_path": "D:/hafs_training/models/oracle-farore-general-qwen25-coder-15b-20251222",
    "formats": ["pytorch", "gguf"],
    "locations": {"windows": "D:/hafs_training/models/oracle-farore-general-qwen25-coder-15b-20251222",
                  "mac": "/Users/scawful/Code/hafs/models/oracle-farore-general-qwen25-coder-15b-20251222"},
    "primary_location": "windows", "deployed_backends": ["ollama"], "ollama_model_name": "oracle-farore",
    "halext_node_id": None, "git_commit": "8a14bc8", "notes": "First production model with improved diverse dataset",
    "tags": ["production", "diverse-v2"], "created_at": "2025-12-22T09:48:00", "updated_at": "2025-12-22T11:30:00",
}
BROKEN_HAFS = {"model_id": "oracle-rauru-asm", "version": "v1", "final_loss": "low", "lora_config": "r16",
               "hyperparameters": ["lr", 0.1], "tags": "experimental", "role": "asm",
               "training_duration_minutes": "an hour", "created_at": "last tuesday", "mystery": {"x": 1},
               "halext_node_id": "halext-2"}


def afs_version(version, status, parent, accuracy, **extra):
    return {"model_name": "majora", "version": version, "created_at": "2026-01-14T10:00:00", "status": status,
            "lora_path": f"/models/majora-{version}-lora", "gguf_path": f"/models/majora-{version}-Q8_0.gguf",
            "training": {"framework": "unsloth", "base_model": "Qwen2.5-Coder-7B", "samples": 223, "epochs": 3,
                         "batch_size": 4, "learning_rate": 0.0002, "duration_hours": 3.0, "cost_usd": 0.80,
                         "hardware": "M2 Max"},
            "evaluation_scores": {"accuracy": accuracy, "f1_score": 0.82, "perplexity": None,
                                  "inference_speed_tokens_per_sec": 120, "custom_metrics": extra.pop("custom", {})},
            "deployed": status == "deployed", "deployed_at": "2026-01-14T11:00:00" if status == "deployed" else None,
            "parent_version": parent, "training_data_sources": ["oracle", "toolbench"], "git_commit": "abc123def456",
            "tags": ["production", "stable"], "notes": "Initial training", **extra}


AFS_REGISTRY = {"version": "1.0", "updated_at": "2026-01-14T12:00:00", "models": {
    "majora": {"metadata": {"model_name": "majora", "created_at": "2026-01-14T10:00:00",
                            "description": "Code generation model", "owner": "scawful", "tags": ["coder"],
                            "notes": "Primary coder model"},
               "versions": {"v1": afs_version("v1", "deployed", None, 0.85),
                            "v2": afs_version("v2", "completed", "v1", 0.87),
                            "v3": afs_version("v3", "deployed", "v2", 0.88, custom={"asm_pass_rate": 0.7})}},
    "oracle": {"metadata": {"model_name": "oracle"},
               "versions": {"v1": dict(afs_version("v1", "weird", None, "high"), model_name="oracle")}}}}
AFS_LINEAGE = {"version": "1.0", "updated_at": "2026-01-14T12:00:00", "lineages": {"majora": {
    "created_at": "2026-01-14T10:00:00", "versions": {
        "v1": {"created_at": "2026-01-14T10:00:00", "parent_version": None, "training_data": ["oracle", "toolbench"],
               "git_commit": "abc123def456", "base_model": "Qwen2.5-Coder-7B", "notes": "Initial training"},
        "v2": {"created_at": "2026-01-14T12:00:00", "parent_version": "v1",
               "training_data": ["oracle", "toolbench", "additional"], "git_commit": "def456ghi789",
               "base_model": "majora:v1", "notes": "Fine-tuned on additional data"}}}}}
IMAGEWORKS = {"models": [
    {"name": "qwen2.5-vl-7b-awq", "display_name": "Qwen2.5 VL 7B AWQ", "backend": "vllm",
     "backend_config": {"port": 8000, "model_path": "/home/u/ai-models/qwen2.5-vl-7b-awq", "extra_args": ["--tp", "1"]},
     "capabilities": {"text": True, "vision": True, "audio": False, "embedding": False},
     "artifacts": {"aggregate_sha256": "ab" * 32, "files": [{"path": "tokenizer.json", "sha256": "cd" * 32}]},
     "chat_template": {"source": "embedded", "path": None, "sha256": None},
     "version_lock": {"locked": True, "expected_aggregate_sha256": "ab" * 32, "last_verified": "2025-10-02T10:00:00"},
     "performance": {"ttft_ms_avg": 120}, "probes": {"vision": {"ok": True}}, "served_model_id": "qwen2.5vl:7b",
     "model_aliases": ["qwen-vl"], "roles": ["caption", "description"], "license": "apache-2.0",
     "source": {"huggingface_id": "Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "format": "awq"}, "metadata": {"notes": "main"},
     "deprecated": False, "profiles_placeholder": None},
    {"name": "llava-old", "backend": "ollama", "capabilities": {"vision": "yes"}, "roles": ["caption"],
     "deprecated": True, "model_aliases": ["llava:old"], "metadata": {"tuning": "none"},
     "performance_history": [1, 2]},
    {"name": "no-backend", "roles": "keywords"},
    {"display_name": "nameless"},
]}


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    base = tmp_path_factory.mktemp("exchange")
    root = base / "trainer-root"
    make_hf_model(root / "real-model", seed=3)
    make_peft_adapter(root / "real-lora", base="real", seed=4)
    mesh = Mesh(base)
    mesh.start_coordinator()
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: version_of(rows, "real-model") and version_of(rows, "real-lora"), timeout=60)
    mesh.root = root
    yield mesh
    mesh.close()


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_hafs_registry_maps_every_field_and_reports_the_rest(reg, tmp_path):
    data = {"version": "1.0", "models": {HAFS_ENTRY["model_id"]: HAFS_ENTRY, "oracle-rauru-asm": BROKEN_HAFS,
                                         "junk": "not an object"}}
    file = write(tmp_path, "registry.json", data)
    # The Mac of the hafs file is the host called trainer here; its Windows box has not joined.
    report = reg.json("registry", "import", file, "--map-host", "mac=trainer", "--map-host", "pc=trainer")
    assert (report["format"], report["models"], report["versions"]) == ("hafs", 2, 2)
    problems = "\n".join(report["problems"])
    for expected in ("junk: is not an object; skipped", "final_loss 'low' is not a number",
                     "lora_config 'r16' is not an object", "hyperparameters ['lr', 0.1] is not an object",
                     "training_duration_minutes 'an hour' is not a number", "created_at 'last tuesday' is not a date",
                     "no host named 'windows'", "hafs model oracle-rauru-asm: mystery has no llmesh field",
                     "--map-host pc: no location of that name in the file"):
        assert expected in problems, expected
    assert not any(HAFS_ENTRY["model_id"] in p for p in report["problems"]
                   if "no host named 'windows'" not in p)  # every field of a whole record has a place
    v = reg.json("models", "info", HAFS_ENTRY["model_id"])
    assert (v["version"], v["kind"], v["status"], v["state"]) == (1, "lora", "pending", "active")
    assert v["display_name"] == "Oracle: Farore Secrets" and v["base_model"] == "Qwen/Qwen2.5-Coder-1.5B"
    assert v["roles"] == ["general"] and v["backends"] == ["ollama"] and v["code_commit"] == "8a14bc8"
    assert v["tags"] == {"group": "rom-tooling", "production": "true", "diverse-v2": "true",
                         "formats": "pytorch,gguf", "served_name": "oracle-farore"}
    assert v["duration_s"] == 4500 and v["hardware"] == "windows-rtx-5060"
    assert v["metrics"] == {"perplexity": 2.28}
    assert v["metadata"]["training"] == {"final_loss": 0.8245, "best_loss": 0.7891, "date": "2025-12-22T09:48:00"}
    assert v["params"]["device"] == "cuda" and v["params"]["dataset_path"] == HAFS_ENTRY["dataset_path"]
    assert v["metadata"]["lora"] == {"r": 16, "alpha": 16, "dropout": 0.05,
                                     "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    assert v["params"]["learning_rate"] == 0.0002 and v["params"]["sequence_length"] == 2048
    assert v["params"]["train_samples"] == 320 and v["params"]["dataset_quality.acceptance_rate"] == 0.867
    assert v["datasets"] == [{"name": "oracle_farore_improved", "digest": ""}]
    assert [(c["host"], c["path"], c["state"]) for c in v["copies"]] == [
        ("trainer", HAFS_ENTRY["locations"]["mac"], "unverified")]
    assert v["extra"]["locations"][0]["host"] == "windows"
    assert v["extra"]["source"] == {"format": "hafs", "record": HAFS_ENTRY}  # nothing lost
    broken = reg.json("models", "info", "oracle-rauru-asm")
    assert broken["roles"] == ["asm"] and broken["tags"] == {"experimental": "true", "halext_node": "halext-2"}
    assert broken["extra"]["source"]["record"] == BROKEN_HAFS
    assert reg.json("models", "list", "--role", "general", "--can-serve", "ollama")[0]["name"] == HAFS_ENTRY["model_id"]
    assert reg.json("models", "search", "tag.served_name = 'oracle-farore'")[0]["name"] == HAFS_ENTRY["model_id"]
    again = reg.json("registry", "import", file)
    assert (again["versions"], again["merged"]) == (0, 2)  # the same file twice: merged, not duplicated
    usage = reg.meshctl("registry", "import", file, "--map-host", "mac", check=False)
    assert usage.returncode == 2 and "expected LOCATION=HOST" in usage.stderr
    assert "invalid host name" in fails(reg, "registry", "import", file, "--map-host", "mac=no such host")


def test_afs_registry_then_lineage(reg, tmp_path):
    report = reg.json("registry", "import", write(tmp_path, "registry.json", AFS_REGISTRY))
    assert (report["format"], report["models"], report["versions"]) == ("afs-registry", 2, 4)
    problems = "\n".join(report["problems"])
    assert "status 'weird' is not an afs status" in problems and "metric accuracy 'high' is not a number" in problems
    rows = reg.json("models", "versions", "majora")
    assert [(v["version"], v["state"]) for v in rows] == [(1, "active"), (2, "active"), (3, "active")]
    v3 = rows[2]
    assert v3["aliases"] == ["prod"] and v3["tags"]["deployed"] == "true"
    assert v3["metrics"] == {"accuracy": 0.88, "asm_pass_rate": 0.7, "f1": 0.82, "tokens_per_second": 120}
    assert v3["parents"] == [{"name": "majora", "version": 2, "relation": "finetune"}]
    assert (v3["framework"], v3["duration_s"], v3["cost_usd"], v3["kind"]) == ("unsloth", 10800, 0.8, "lora")
    assert v3["params"] == {"batch_size": 4, "learning_rate": 0.0002, "num_epochs": 3, "samples": 223}
    assert v3["description"] == "Code generation model"
    assert v3["extra"]["paths"]["gguf_path"] == "/models/majora-v3-Q8_0.gguf"
    assert reg.meshctl("models", "tree", "majora").stdout.splitlines()[1:] == [
        "└── v1", "    └── v2 (finetune)", "        └── v3 (finetune; @prod)"]
    assert reg.json("models", "info", "oracle:1")["metrics"] == {"f1": 0.82, "tokens_per_second": 120}

    merged = reg.json("registry", "import", write(tmp_path, "lineage.json", AFS_LINEAGE))
    assert (merged["format"], merged["versions"], merged["merged"]) == ("afs-lineage", 0, 2)
    lineage = reg.json("models", "lineage", "majora:2")
    assert [d["name"] for d in lineage["datasets"]] == ["additional", "oracle", "toolbench"]
    assert lineage["ancestors"][0]["name"] == "majora" and lineage["ancestors"][0]["version"] == 1
    assert len(reg.json("models", "versions", "majora")) == 3


def test_imageworks_registry(reg, tmp_path):
    file = write(tmp_path, "model_registry.json", IMAGEWORKS)
    report = reg.json("registry", "import", file, "--map-host", "local=trainer")
    assert (report["format"], report["versions"]) == ("imageworks", 3)
    problems = "\n".join(report["problems"])
    for expected in ("capability vision 'yes' is not true/false", "no-backend: has no backend",
                     "model name None is missing", "version lock kept under extra.source",
                     "imageworks qwen2.5-vl-7b-awq: artifacts (imageworks' own file hashes",
                     "imageworks llava-old: model_aliases 'llava:old' is not a valid llmesh alias",
                     "imageworks llava-old: metadata.tuning has no llmesh field",
                     "imageworks llava-old: performance_history has no llmesh field"):
        assert expected in problems, expected
    v = reg.json("models", "info", "qwen2.5-vl-7b-awq")
    assert v["capabilities"] == {"audio": False, "embedding": False, "text": True, "vision": True}
    assert v["roles"] == ["caption", "description"] and v["backends"] == ["vllm"]
    assert v["tags"] == {"license": "apache-2.0", "served_name": "qwen2.5vl:7b"}
    assert v["aliases"] == ["qwen-vl"] and reg.json("models", "info", "qwen2.5-vl-7b-awq@qwen-vl")["version"] == 1
    assert v["metrics"] == {"ttft_ms_avg": 120}
    assert v["params"] == {"backend_config.extra_args": '["--tp", "1"]', "backend_config.port": 8000}
    assert v["metadata"]["chat_template"] == {"source": "embedded", "path": None, "sha256": None}
    assert v["metadata"]["probes"] == {"vision": {"ok": True}} and v["metadata"]["source"] == {"format": "awq"}
    assert v["metadata"]["hf"] == {"repo_id": "Qwen/Qwen2.5-VL-7B-Instruct-AWQ"} and v["notes"] == "main"
    assert [(c["host"], c["path"]) for c in v["copies"]] == [("trainer", "/home/u/ai-models/qwen2.5-vl-7b-awq")]
    assert v["extra"]["source"]["record"]["artifacts"]["aggregate_sha256"] == "ab" * 32
    assert reg.json("models", "info", "llava-old")["state"] == "deprecated"
    assert reg.json("models", "info", "no-backend")["roles"] == ["keywords"]
    got = reg.json("models", "resolve", "--role", "caption", "--capability", "vision")
    assert got["version"]["name"] == "qwen2.5-vl-7b-awq"  # llava-old is deprecated (003's resolution order)


def test_afs_labels_that_are_not_numbers_are_kept_and_resolve(reg, tmp_path):
    versions = {"v1": afs_version("v1", "completed", None, 0.8), "v2": afs_version("v2", "completed", "v1", 0.81),
                "v2b": afs_version("v2b", "completed", "v2", 0.83), "v3": afs_version("v3", "completed", "v2b", 0.9)}
    data = {"version": "1.0", "models": {"zelda": {"metadata": {"model_name": "zelda"}, "versions": {
        label: dict(v, model_name="zelda") for label, v in versions.items()}}}}
    report = reg.json("registry", "import", write(tmp_path, "registry.json", data))
    assert report["versions"] == 4 and not [p for p in report["problems"] if "zelda" in p], report["problems"]
    rows = reg.json("models", "versions", "zelda")
    assert [(v["version"], v["label"]) for v in rows] == [(1, ""), (2, ""), (3, ""), (4, "v2b")]
    assert reg.meshctl("models", "tree", "zelda").stdout.splitlines()[1:] == [
        "└── v1", "    └── v2 (finetune)", "        └── v4 (v2b; finetune)", "            └── v3 (finetune)"]
    v2b = reg.json("models", "info", "zelda:v2b")
    assert (v2b["version"], v2b["label"], v2b["metrics"]["accuracy"]) == (4, "v2b", 0.83)
    assert "v4 (label v2b)" in reg.meshctl("models", "info", "zelda:v2b").stdout
    assert reg.json("models", "lineage", "zelda:v2b")["ancestors"][0]["version"] == 2
    assert "has no version labelled 'v7c'" in fails(reg, "models", "info", "zelda:v7c")
    lineage = {"version": "1.0", "lineages": {"zelda": {"versions": {
        "v2b": {"parent_version": "v2", "training_data": ["extra"], "notes": "branch"}}}}}
    merged = reg.json("registry", "import", write(tmp_path, "lineage.json", lineage))
    assert (merged["versions"], merged["merged"]) == (0, 1)  # the same version, found by its label
    assert [d["name"] for d in reg.json("models", "info", "zelda:v2b")["datasets"]] == [
        "extra", "oracle", "toolbench"]


def llmesh_file(tmp_path, version: dict, hosts=()) -> str:
    version = {"number": 1, "digest": "sha256:" + "d" * 64, "kind": "model", "status": "ready", "state": "active",
               "files": [], "copies": [], **version}
    return write(tmp_path, "export.json", {"format": "llmesh-registry", "format_version": 1, "hosts": list(hosts),
                                           "models": [{"name": "good-one", "versions": [
                                               {"number": 1, "digest": "sha256:" + "e" * 64, "files": []}]},
                                                      {"name": "decoy", "versions": [version]}]})


def test_imported_paths_are_checked_and_a_bad_one_refuses_the_whole_file(reg, tmp_path):
    file = {"path": "x", "size": 1, "digest": "sha256:" + "a" * 64}
    windows_box = {"id": "w1n", "name": "winbox", "platform": "windows", "first_seen": 0, "last_seen": 0}
    cases = [
        ({"files": [dict(file, path="../../x")]}, (), "decoy v1: file path '../../x' must be relative"),
        ({"files": [dict(file, path="/etc/cron.d/evil")]}, (), "file path '/etc/cron.d/evil' must be relative"),
        ({"files": [dict(file, path="C:/Windows/evil.dll")]}, (), "file path 'C:/Windows/evil.dll'"),
        ({"files": [dict(file, path="\\\\srv\\share\\x")]}, (), "must be relative and '/'-separated"),
        ({"copies": [{"host": "trainer", "path": "models/x", "state": "verified"}]}, (),
         "copy path 'models/x' must be an absolute POSIX path"),
        ({"copies": [{"host": "trainer", "path": "/srv/m/../../etc", "state": "verified"}]}, (),
         "without '.' or '..'"),
        ({"copies": [{"host_id": "w1n", "path": "/etc/cron.d", "state": "verified"}]}, [windows_box],
         "copy path '/etc/cron.d' must be an absolute Windows path"),
    ]
    for version, hosts, message in cases:
        refused = fails(reg, "registry", "import", llmesh_file(tmp_path, version, hosts))
        assert refused.startswith("import refused, nothing imported: ") and message in refused, refused
    hafs = {"models": {"m": dict(HAFS_ENTRY, model_id="pathy", locations={"trainer": "../models/pathy"})}}
    assert "pathy v1: copy path '../models/pathy'" in fails(reg, "registry", "import", write(tmp_path, "h.json", hafs))
    names = {v["name"] for v in reg.json("models", "list")}
    assert not names & {"good-one", "decoy", "pathy"} and not reg.host("winbox")  # nothing at all went in


def test_rm_deletes_only_what_the_agent_holds_for_that_version(reg, tmp_path):
    make_hf_model(reg.root / "nest" / "inner-model", seed=9)
    reg.meshctl("rescan")
    reg.wait_models(lambda rows: version_of(rows, "inner-model"), timeout=60)
    # An imported copy record that points at a folder holding another model.
    record = {"copies": [{"host": "trainer", "path": str(reg.root / "nest"), "state": "verified"}]}
    assert reg.json("registry", "import", llmesh_file(tmp_path, record))["versions"] == 2
    assert [c["path"] for c in reg.json("models", "info", "decoy")["copies"]] == [str(reg.root / "nest")]
    refused = fails(reg, "models", "rm", "decoy", "--from", "trainer", "--force")
    assert f"refusing to delete {reg.root / 'nest'}: it is not a model this host found there" in refused
    assert (reg.root / "nest" / "inner-model" / "model.safetensors").exists()
    # The real copy of a version goes when asked: the agent holds exactly that version there.
    make_hf_model(reg.root / "doomed", seed=10)
    reg.meshctl("rescan")
    reg.wait_models(lambda rows: version_of(rows, "doomed"), timeout=60)
    reg.meshctl("models", "rm", "doomed", "--from", "trainer", "--force")
    assert not (reg.root / "doomed").exists() and (reg.root / "nest" / "inner-model").exists()


def test_bad_files_are_refused_whole_and_dry_runs_change_nothing(reg, tmp_path):
    assert "not a JSON file" in fails(reg, "registry", "import", write(tmp_path, "bad.json", "{nope"))
    assert "not a registry file llmesh knows" in fails(reg, "registry", "import",
                                                       write(tmp_path, "odd.json", {"hello": 1}))
    assert "expected an object with a 'models' object" in fails(
        reg, "registry", "import", write(tmp_path, "list.json", [1]), "--format", "hafs")
    assert "cannot read" in fails(reg, "registry", "import", str(tmp_path / "missing.json"))
    assert "format version 9 is not supported" in fails(
        reg, "registry", "import", write(tmp_path, "future.json", {"format": "llmesh-registry", "format_version": 9}))
    data = {"models": {"dry-one": dict(HAFS_ENTRY, model_id="dry-one", locations={})}}
    report = reg.json("registry", "import", write(tmp_path, "dry.json", data), "--dry-run")
    assert report["versions"] == 1 and report["dry_run"]
    assert "unknown model 'dry-one'" in fails(reg, "models", "info", "dry-one")


def test_export_then_import_is_lossless(reg, tmp_path):
    # a registry with everything in it: real copies, lineage, aliases with history, states, locks, tombstones
    root = str(reg.root)
    reg.meshctl("models", "register", f"{root}/real-model", "--host", "trainer", "--name", "real", "--semver", "1.0.0",
                "--capability", "vision", "--param", "lr=0.1", "--metric", "accuracy=0.9", "--dataset", "d@sha256:1")
    reg.meshctl("models", "register", f"{root}/real-lora", "--host", "trainer", "--name", "real-lora",
                "--parent", "real:1", "--role", "asm", "--backend", "ollama", "--tag", "stage=2")
    reg.meshctl("models", "alias", "set", "real:1", "prod", "--reason", "first")
    reg.meshctl("models", "verify", "real:1", "--lock")
    reg.meshctl("models", "deprecate", "real-lora:1", "--reason", "old")
    reg.meshctl("models", "delete", "oracle-rauru-asm")
    exported = tmp_path / "export.json"
    assert reg.json("registry", "export", str(exported))["versions"] >= 10
    first = json.loads(exported.read_text())

    other = Mesh(tmp_path / "other")
    try:
        other.start_coordinator()
        report = other.json("registry", "import", str(exported))
        assert report["problems"] == [] and report["skipped"] == 0
        assert report["versions"] == sum(len(m["versions"]) for m in first["models"])
        other.meshctl("registry", "export", str(tmp_path / "again.json"))
        second = json.loads((tmp_path / "again.json").read_text())
        for key in ("hosts", "models", "aliases", "alias_history", "tombstones"):
            assert second[key] == first[key], key
        events = [json.dumps(e, sort_keys=True) for e in second["events"]]
        originals = [json.dumps(e, sort_keys=True) for e in first["events"]]
        start = events.index(originals[0])
        assert events[start:start + len(originals)] == originals  # the audit trail comes along too
        assert other.json("models", "info", "real@prod")["locked"] is True
        assert other.json("models", "lineage", "real-lora:1")["ancestors"][0]["name"] == "real"
        again = other.json("registry", "import", str(exported))  # importing twice merges
        assert again["versions"] == 0 and again["merged"] == report["versions"]
        assert other.json("registry", "export", str(tmp_path / "third.json"))["versions"] == report["versions"]
    finally:
        other.close()


def test_llmesh_export_with_broken_parts_imports_the_rest(reg, tmp_path):
    data = reg.json("registry", "export", str(tmp_path / "e.json")) and json.loads((tmp_path / "e.json").read_text())
    broken = copy.deepcopy(data)
    broken["models"] = [m for m in broken["models"] if m["name"] in ("majora", "real")]
    for m in broken["models"]:
        m["name"] = "copy-" + m["name"]
        for v in m["versions"]:
            v["digest"] = v["digest"] + "-copy"
            v["parents"] = [dict(p, name="copy-" + p["name"]) for p in v["parents"]]
            v["copies"] = []
    majora = next(m for m in broken["models"] if m["name"] == "copy-majora")
    del majora["versions"][0]["digest"]                 # missing field
    majora["versions"][1]["metrics"] = {"accuracy": "high"}  # wrong type
    majora["versions"][2]["state"] = "sleeping"
    broken["models"].append({"versions": []})           # a model without a name
    broken["aliases"], broken["alias_history"], broken["events"], broken["hosts"] = [], [], [], []
    report = reg.json("registry", "import", write(tmp_path, "broken.json", broken))
    problems = "\n".join(report["problems"])
    assert "copy-majora v1: 'digest'; skipped" in problems
    assert "metric 'accuracy' must be a number" in problems and "unknown state 'sleeping'" in problems
    assert "no name; skipped" in problems
    assert "parent majora:1 is not in the registry" not in problems
    assert "lineage not imported: parent copy-majora:1 is not in the registry" in problems
    assert [v["version"] for v in reg.json("models", "versions", "copy-majora")] == [2, 3]
    assert reg.json("models", "info", "copy-majora:3")["state"] == "active"
    assert reg.json("models", "info", "copy-real")["metrics"] == {"accuracy": 0.9}
