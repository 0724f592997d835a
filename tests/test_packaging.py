"""What a user gets from `pip install llmesh`: one `llmesh` package, complete, that runs alone.

The wheel is built from this checkout, installed into a fresh virtual environment, and used
from a folder outside the repository with the source tree off the path: every module of
`llmesh` imports from site-packages, and `meshctl up` + `meshctl hosts --json` work. The
fresh environment borrows this one's third-party dependencies through a .pth line (the
network may not reach a package index here); llmesh itself comes only from the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from harness import Proc, wait_for

REPO = Path(__file__).resolve().parent.parent
# The folders setup.py maps onto the llmesh namespace (checked against setup.py below).
PARTS = {"llmesh": "protos/llmesh", "llmesh.common": "common", "llmesh.sdk": "sdk", "llmesh.agent": "agent",
         "llmesh.coordinator": "coordinator", "llmesh.cli": "cli"}


def _source_modules() -> dict[str, Path]:
    """Every module of the source tree, by its installed name."""
    found = {}
    for name, folder in PARTS.items():
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if "__pycache__" not in rel.parts:
                found[".".join([name, *parts])] = path
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy: setuptools reuses a build/ folder, whose stale files would hide a module
    # that the checkout lost (and the checkout stays clean).
    source, out = tmp_path_factory.mktemp("source") / "llmesh", tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(source)], check=True, capture_output=True, text=True, timeout=300)
    (built,) = out.glob("llmesh-*.whl")
    return built


def test_setup_maps_the_folders_this_test_checks():
    import ast
    tree = ast.parse((REPO / "setup.py").read_text())
    parts = next(node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PARTS")
    assert ast.literal_eval(parts) == PARTS


def test_every_folder_with_modules_is_a_package():
    """A folder of modules without __init__.py would be left out of the wheel."""
    for folder in PARTS.values():
        for path in (REPO / folder).rglob("*.py"):
            for parent in path.relative_to(REPO / folder).parents:
                if parent != Path("."):
                    assert (REPO / folder / parent / "__init__.py").exists(), f"{folder}/{parent} has no __init__.py"


def test_wheel_holds_only_llmesh_and_every_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"llmesh"}
    in_wheel = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in names if n.endswith(".py")}
    missing = set(_source_modules()) - in_wheel
    assert not missing, f"modules left out of the wheel: {sorted(missing)}"
    assert "llmesh/v1/catalog.proto" in names and "llmesh/v1/mesh_pb2.pyi" in names
    assets = {f"llmesh/coordinator/observe/dashboard/{p.name}" for p in (REPO / "coordinator/observe/dashboard").iterdir()
              if not p.name.endswith(".py") and p.name != "__pycache__"}
    assert assets and assets <= set(names), sorted(assets - set(names))  # the dashboard's pages, script, style
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "meshctl = llmesh.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_runs_alone(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    fresh_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     capture_output=True, text=True, check=True).stdout.strip())
    # Third-party dependencies from this environment; llmesh only from the wheel.
    (fresh_site / "_borrowed_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMESH_", "PYTHON"))}
    check = subprocess.run([str(python), "-I", "-c", IMPORT_EVERYTHING, str(REPO), str(fresh_site)], cwd=outside,
                           env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    imported = set(json.loads(check.stdout))
    assert set(_source_modules()) <= imported, sorted(set(_source_modules()) - imported)

    meshctl = venv / ("Scripts/meshctl.exe" if os.name == "nt" else "bin/meshctl")
    home, root = tmp_path / "home", tmp_path / "models"
    root.mkdir()
    env.update(LLMESH_HOME=str(home), PYTHONUNBUFFERED="1")
    up = Proc(["up", "--name", "laptop", "--root", str(root), "--heartbeat", "0.5"], env, tmp_path / "up.log",
              command=[str(meshctl)], cwd=outside)
    try:
        def hosts():
            result = subprocess.run([str(meshctl), "hosts", "--json"], cwd=outside, env=env, capture_output=True,
                                    text=True, timeout=60)
            return result.returncode == 0 and json.loads(result.stdout)
        rows = wait_for(hosts, 60, "meshctl up from the installed wheel", logs=[up.log])
        assert [(h["name"], h["status"]) for h in rows] == [("laptop", "online")]
        # The dashboard, served on loopback by default, with its assets from the wheel.
        link = subprocess.run([str(meshctl), "dashboard", "--print"], cwd=outside, env=env, capture_output=True,
                              text=True, timeout=60, check=True).stdout.strip()
        assert _dashboard_script(link, json.loads((home / "credentials.json").read_text())["ca_pem"])
    finally:
        up.signal(signal.SIGTERM)
        code = up.popen.wait(30)
    assert code == 0, up.output()
    assert "Traceback" not in up.output()


# Run inside the fresh environment: import every module of the installed llmesh, and prove
# that none came from the source tree.
IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys
from pathlib import Path
repo, fresh_site = Path(sys.argv[1]), Path(sys.argv[2])
assert not any(Path(p or ".").resolve() == repo for p in sys.path), sys.path
import llmesh
names = ["llmesh"] + [m.name for m in pkgutil.walk_packages(llmesh.__path__, "llmesh.")]
for name in names:
    module = importlib.import_module(name)
    where = Path(module.__file__).resolve()
    assert fresh_site.resolve() in where.parents, f"{name} imported from {where}"
print(json.dumps(names))
"""


def _dashboard_script(link: str, ca_pem: str) -> bool:
    """Spend a one-time login link, then fetch the page's script with the session it opened."""
    import ssl
    import urllib.request
    context = ssl.create_default_context(cadata=ca_pem)
    with urllib.request.urlopen(link, context=context, timeout=60) as reply:
        cookie = reply.headers["Set-Cookie"].split(";")[0]
    script = urllib.request.Request(link.split("/login")[0] + "/static/app.js", headers={"Cookie": cookie})
    with urllib.request.urlopen(script, context=context, timeout=60) as reply:
        return reply.status == 200 and b"POLL_MS" in reply.read()
