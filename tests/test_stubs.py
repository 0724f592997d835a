"""The committed protobuf stubs must be exactly what the .proto files generate."""
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO / "protos" / "llmesh" / "v1"


def test_generated_stubs_are_fresh(tmp_path):
    protos = sorted(PROTO_DIR.glob("*.proto"))
    assert protos, "no .proto files found"
    work = tmp_path / "protos"
    shutil.copytree(REPO / "protos", work, ignore=shutil.ignore_patterns("*_pb2*", "__pycache__"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(work), f"--python_out={work}",
                    f"--pyi_out={work}", f"--grpc_python_out={work}",
                    *[str(work / "llmesh" / "v1" / p.name) for p in protos]], check=True)
    generated = sorted(p.name for p in (work / "llmesh" / "v1").glob("*_pb2*"))
    committed = sorted(p.name for p in PROTO_DIR.glob("*_pb2*"))
    assert generated == committed, "stub files differ from the .proto files: run `make protos`"
    stale = [name for name in generated
             if (work / "llmesh" / "v1" / name).read_bytes() != (PROTO_DIR / name).read_bytes()]
    assert not stale, f"stale generated stubs {stale}: run `make protos` and commit the result"
