"""`models recommend`: the best version for a role by its metrics that fits the memory limit and
a host's free memory (as the agent reports it), each candidate explained in one line; a real
coordinator and agent."""
import json

import pytest
from factories import make_hf_model
from harness import Mesh, version_of

MiB = 2 ** 20


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    base = tmp_path_factory.mktemp("recommend")
    root = base / "trainer"
    make_hf_model(root / "small-a", seed=1)
    make_hf_model(root / "big", seed=2, hidden=512, layers=4, vocab=2048)
    make_hf_model(root / "small-b", seed=3)
    mesh = Mesh(base)
    mesh.start_coordinator()
    mesh.start_agent("trainer", [root])
    mesh.wait_host("trainer")
    mesh.wait_models(lambda rows: all(version_of(rows, n) for n in ("small-a", "big", "small-b")), timeout=60)
    for folder, accuracy in (("small-a", 0.8), ("big", 0.95), ("small-b", 0.9)):
        mesh.meshctl("models", "register", str(root / folder), "--host", "trainer", "--name", "oracle",
                     "--role", "chat", "--metric", f"accuracy={accuracy}")
    yield mesh
    mesh.close()


def recommend(reg, *args) -> dict:
    return json.loads(reg.meshctl("models", "recommend", "--role", "chat", *args, "--json").stdout)


def test_best_by_metric_that_fits(reg):
    sizes = {v["version"]: v["size_bytes"] for v in reg.json("models", "versions", "oracle")}
    assert sizes[2] > sizes[1] + 2 * MiB  # the big one needs megabytes more than the others
    result = recommend(reg)
    assert (result["metric"], result["recommended"]) == ("accuracy", "oracle:2")
    assert [c["ref"] for c in result["candidates"]] == ["oracle:2", "oracle:3", "oracle:1"]

    limit = int(sizes[2] * 1.2) + 256 * MiB - 1  # one byte short of what the big one needs
    result = recommend(reg, "--max-memory", str(limit))
    assert result["recommended"] == "oracle:3"
    big = next(c for c in result["candidates"] if c["ref"] == "oracle:2")
    assert not big["fits"] and big["reason"].startswith("needs ") and "> --max-memory" in big["reason"]

    result = recommend(reg, "--min", "metric.accuracy=0.85", "--max-memory", str(limit))
    low = next(c for c in result["candidates"] if c["ref"] == "oracle:1")
    assert low["reason"] == "metric.accuracy 0.8 < 0.85 (--min)"
    assert result["recommended"] == "oracle:3"

    # On a host: this machine's agent reports its free memory, which holds these small models.
    result = recommend(reg, "--on", "auto")
    assert (result["recommended"], result["host"]) == ("oracle:2", "trainer")
    assert "fits trainer (RAM" in result["candidates"][0]["reason"]
    human = reg.meshctl("models", "recommend", "--role", "chat", "--on", "trainer").stdout.splitlines()
    assert human[0] == "role chat: ranked by metric.accuracy (higher is better)"
    assert human[1].startswith("   * oracle:2  accuracy=0.95, needs ")
    assert human[-1] == "recommended: oracle:2 on trainer"


def test_none_fits_and_bad_input_are_clear(reg):
    result = reg.meshctl("models", "recommend", "--role", "chat", "--min", "metric.accuracy=0.99", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no version with the role chat passes every check (see above)"
    assert "oracle:2  metric.accuracy 0.95 < 0.99 (--min)" in result.stdout
    for args, expected in ((("--min", "accuracy=1"), "expected metric.NAME=NUMBER"),
                           (("--max-memory", "lots"), "expected a size such as 16GB"),
                           (("--on", "nowhere"), "no host 'nowhere'")):
        result = reg.meshctl("models", "recommend", "--role", "chat", *args, check=False)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and expected in lines[0], result.stderr
    result = reg.meshctl("models", "recommend", "--role", "nobody", check=False)
    assert result.stderr.strip() == ("error: no active, ready version has the role 'nobody' "
                                     "(adapters are served on their base)")
