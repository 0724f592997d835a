"""Adapter bundles between two meshes: `adapters bundle` on one (a real coordinator and agent)
writes a tar whose manifest has each file's sha256, the base and its facts, and the records;
`registry import FILE.tar --to HOST` on a second coordinator lands the adapters on its agent,
registered with their lineage and metrics. A tampered tar is refused in one line and nothing is
written or registered."""
import io
import json
import shutil
import tarfile

import pytest
from factories import make_hf_model, make_peft_adapter
from harness import Mesh, version_of


@pytest.fixture(scope="module")
def meshes(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundles")
    trainer, mac = base / "trainer-root", base / "mac-root"
    make_hf_model(trainer / "tiny-base", seed=1)
    make_peft_adapter(trainer / "oracle", base="tiny-base", seed=2)
    make_peft_adapter(trainer / "sage", base="tiny-base", seed=3)
    shutil.copytree(trainer / "tiny-base", mac / "tiny-base")  # the same base, on the other mesh
    one, two = Mesh(base / "one"), Mesh(base / "two")
    try:
        one.start_coordinator()
        one.start_agent("trainer", [trainer])
        one.wait_host("trainer")
        one.wait_models(lambda rows: all(version_of(rows, n) for n in ("tiny-base", "oracle", "sage")), timeout=60)
        one.meshctl("models", "register", str(trainer / "tiny-base"), "--host", "trainer", "--name", "tiny-base")
        for name in ("oracle", "sage"):
            one.meshctl("models", "register", str(trainer / name), "--host", "trainer", "--name", name,
                        "--base", "tiny-base", "--parent", "tiny-base:1", "--relation", "adapter",
                        "--role", "chat")
        one.meshctl("models", "score", "oracle:1", "--metric", "accuracy=0.91")
        two.start_coordinator()
        two.start_agent("mac", [mac])
        two.wait_host("mac")
        two.wait_models(lambda rows: version_of(rows, "tiny-base"), timeout=60)
        two.meshctl("models", "register", str(mac / "tiny-base"), "--host", "mac", "--name", "tiny-base")
        yield one, two, mac
    finally:
        one.close()
        two.close()


def one_line_error(mesh, *args) -> str:
    result = mesh.meshctl(*args, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0][len("error: "):]


def tampered_copy(src, dst, member_suffix: str) -> None:
    """The same tar with one byte of one member flipped (the manifest unchanged)."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            if m.name.endswith(member_suffix):
                data = bytes([data[0] ^ 1]) + data[1:]
            tout.addfile(m, io.BytesIO(data))


def test_bundle_then_import_onto_another_mesh_with_lineage(meshes, tmp_path):
    one, two, mac = meshes
    out = tmp_path / "adapters.tar"
    manifest = json.loads(one.meshctl("adapters", "bundle", "oracle:1", "sage:1", "-o", str(out), "--json").stdout)
    assert [(a["name"], a["version"]) for a in manifest["adapters"]] == [("oracle", 1), ("sage", 1)]
    oracle = manifest["adapters"][0]
    base_digest = one.json("models", "info", "tiny-base:1")["digest"]
    assert oracle["base"]["id"] == "tiny-base"
    assert (oracle["base"]["version_ref"], oracle["base"]["digest"]) == ("tiny-base:1", base_digest)
    assert oracle["record"]["metrics"] == {"accuracy": 0.91}
    files = {f["path"]: f["sha256"] for f in oracle["files"]}
    registered = {f["path"]: f["digest"] for f in one.json("models", "info", "oracle:1")["files"]}
    assert {p: "sha256:" + d for p, d in files.items()} == registered
    with tarfile.open(out) as tar:
        assert "adapters/oracle/v1/adapter_model.safetensors" in tar.getnames()

    # Tampered: one line, nothing written under the agent's root, nothing registered.
    bad = tmp_path / "bad.tar"
    tampered_copy(out, bad, "sage/v1/adapter_config.json")
    message = one_line_error(two, "registry", "import", str(bad), "--to", "mac")
    assert message.startswith("bad.tar: tampered: adapters/sage/v1/adapter_config.json does not match")
    assert not (mac / "imported").exists()
    assert [v["name"] for v in two.json("models", "list") if v["registered"]] == ["tiny-base"]
    assert "--to HOST" in one_line_error(two, "registry", "import", str(out))

    report = json.loads(two.meshctl("registry", "import", str(out), "--to", "mac", "--json",
                                    timeout=300).stdout)
    assert [(a["from"], a["version"], a["base"]) for a in report["adapters"]] == [
        ("oracle:1", "oracle:1", "tiny-base:1"), ("sage:1", "sage:1", "tiny-base:1")]
    landed = two.json("models", "info", "oracle:1")
    assert landed["digest"] == one.json("models", "info", "oracle:1")["digest"]
    assert [c["host"] for c in landed["copies"]] == ["mac"]
    assert landed["metrics"] == {"accuracy": 0.91} and landed["roles"] == ["chat"]
    assert {"name": "tiny-base", "version": 1, "relation": "adapter"}.items() <= \
        landed["parents"][0].items()
    # The same bundle again: its folders exist, refused before anything is written.
    assert "exists already" in one_line_error(two, "registry", "import", str(out), "--to", "mac")


def test_bundle_refusals_are_one_line(meshes, tmp_path):
    one, two, _ = meshes
    assert "is not a LoRA adapter" in one_line_error(one, "adapters", "bundle", "tiny-base:1",
                                                     "-o", str(tmp_path / "x.tar"))
    assert not (tmp_path / "x.tar").exists()
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all")
    assert "junk.tar: not a readable tar" in one_line_error(two, "registry", "import", str(tmp_path / "junk.tar"))
