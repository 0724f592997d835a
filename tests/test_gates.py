"""Promotion between environments (aliases) through quality gates: a real coordinator and
agent, driven through meshctl. A refusal names each failing check with the version's value,
changes no alias, and is in the audit log, as is the promotion that passes after `score`."""
import json

import pytest
from factories import make_hf_model
from harness import Mesh, version_of


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    base = tmp_path_factory.mktemp("gates")
    root = base / "trainer"
    for seed in (1, 2):
        make_hf_model(root / f"oracle-{seed}", seed=seed)
    mesh = Mesh(base)
    mesh.start_coordinator()
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: version_of(rows, "oracle-2"), timeout=60)
    for seed in (1, 2):
        mesh.meshctl("models", "register", str(root / f"oracle-{seed}"), "--host", "trainer", "--name", "oracle")
    yield mesh
    mesh.close()


def one_line_error(mesh, *args) -> str:
    result = mesh.meshctl(*args, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0][len("error: "):]


def test_a_promotion_is_refused_with_the_failing_checks_then_accepted_after_score(reg):
    reg.meshctl("gate", "set", "production", "metric.accuracy >= 0.85 AND metric.latency_ms < 200")
    assert [g["environment"] for g in reg.json("gate", "list")] == ["production"]
    reg.meshctl("models", "alias", "set", "oracle:2", "staging")
    reg.meshctl("models", "score", "oracle:2", "--metric", "accuracy=0.8")

    message = one_line_error(reg, "models", "promote", "oracle", "--from", "staging", "--to", "production")
    assert message == ("oracle:2 not promoted to production: gate failed: metric.accuracy >= 0.85 (is 0.8); "
                       "metric.latency_ms < 200 (is missing)")
    assert "production" not in reg.json("models", "info", "oracle:2")["aliases"]
    # A check given on the command line applies too.
    reg.meshctl("models", "score", "oracle:2", "--metric", "accuracy=0.9", "--metric", "latency_ms=120")
    message = one_line_error(reg, "models", "promote", "oracle:2", "--to", "production",
                             "--gate", "metric.latency_ms < 100")
    assert message == "oracle:2 not promoted to production: gate failed: metric.latency_ms < 100 (is 120)"

    change = json.loads(reg.meshctl("models", "promote", "oracle", "--from", "staging", "--to", "production",
                                    "--json").stdout)
    assert (change["alias"], change["to_version"]) == ("production", 2)
    assert "production" in reg.json("models", "info", "oracle:2")["aliases"]
    results = sorted(e["result"] for e in reg.json("audit") if e["action"] == "model.promote")
    assert results == ["ok", "refused", "refused"]
    # Refusals and the promotion are the alias's history too, each refusal with its failing checks.
    history = reg.json("models", "alias", "history", "oracle", "--alias", "production")
    assert [(c["action"], c["to_version"]) for c in history] == [("refused", 2), ("refused", 2), ("promote", 2)]
    assert history[0]["reason"] == ("gate failed: metric.accuracy >= 0.85 (is 0.8); "
                                    "metric.latency_ms < 200 (is missing)")


def test_environments_default_configurable_and_promote_needs_no_from(reg):
    envs = reg.json("env", "list")
    assert [e["environment"] for e in envs][:3] == ["development", "staging", "production"]
    # Straight to an environment with NAME:VERSION; an unknown environment is refused naming the known ones.
    message = one_line_error(reg, "models", "promote", "oracle:1", "--to", "qa")
    assert message == ("no environment 'qa' (environments: development, staging, production; "
                       "add it with: meshctl env add qa)")
    assert "no environment 'qa'" in one_line_error(reg, "gate", "set", "qa", "metric.accuracy > 0.5")
    reg.meshctl("env", "add", "qa")
    assert "already exists" in one_line_error(reg, "env", "add", "qa")
    reg.meshctl("gate", "set", "qa", "metric.f1 >= 0.7")
    assert one_line_error(reg, "models", "promote", "oracle:1", "--to", "qa") == (
        "oracle:1 not promoted to qa: gate failed: metric.f1 >= 0.7 (is missing)")
    reg.meshctl("models", "score", "oracle:1", "--metric", "f1=0.75")
    change = json.loads(reg.meshctl("models", "promote", "oracle:1", "--to", "qa", "--json").stdout)
    assert (change["alias"], change["to_version"], change["action"]) == ("qa", 1, "promote")
    assert {"environment": "qa", "expression": "metric.f1 >= 0.7"}.items() <= reg.json("env", "list")[-1].items()
    reg.meshctl("env", "rm", "qa")
    assert "qa" not in [e["environment"] for e in reg.json("env", "list")]
    assert "qa" not in [g["environment"] for g in reg.json("gate", "list")]
    # The alias stays; a promotion to the removed environment is refused.
    assert "qa" in reg.json("models", "info", "oracle:1")["aliases"]
    assert "no environment 'qa'" in one_line_error(reg, "models", "promote", "oracle:1", "--to", "qa")


def test_bad_gates_and_promotions_are_one_clear_line(reg):
    assert "nosuchfield" in one_line_error(reg, "gate", "set", "production", "nosuchfield > 1")
    assert "no alias 'beta'" in one_line_error(reg, "models", "promote", "oracle", "--from", "beta",
                                                "--to", "production")
    assert "give NAME with --from" in one_line_error(reg, "models", "promote", "oracle:1", "--from", "staging",
                                                     "--to", "production")
    assert "no gate for environment 'nowhere'" in one_line_error(reg, "gate", "rm", "nowhere")
