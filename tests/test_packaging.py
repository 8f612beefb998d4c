"""The package's shape: a ROS-free core, ROS messages built by colcon and usable, and a wheel that holds it all."""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

BLOCK_ROS = """
import importlib.abc, pkgutil, sys
BLOCKED = {"rclpy", "rosidl_runtime_py", "tf2_ros", "moveit", "geometry_msgs", "std_msgs"} | set(sys.argv[1:])

class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, NoRos())
import robospatial_ros.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "robospatial_ros.core.")]
for name in names:
    __import__(name)
assert not any(m.split(".")[0] == "rclpy" for m in sys.modules)
print(len(names))
"""


def test_core_imports_without_ros():
    out = subprocess.run([sys.executable, "-c", BLOCK_ROS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 10  # every core module was imported


def test_core_imports_without_the_heavy_optional_dependencies():
    """torch, transformers, peft, trl, datasets, mujoco and pyrealsense2 load only when used."""
    heavy = ["torch", "transformers", "peft", "trl", "datasets", "accelerate", "mujoco", "pyrealsense2", "PIL"]
    out = subprocess.run([sys.executable, "-c", BLOCK_ROS, *heavy], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_generated_messages_round_trip_through_dds_serialization():
    from rclpy.serialization import deserialize_message, serialize_message

    from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
    from robospatial_ros.core.scene import load_scene
    from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer
    from robospatial_ros.ros import conversions as conv

    scene = load_scene("robospatial_ros/data/tabletop_scene.json")
    answer = GeometricReasoner().ask(scene, "points in the free space behind the bowl")
    msg = deserialize_message(serialize_message(conv.answer_to_msg(answer, "q1")), SpatialAnswer)
    assert msg.success and msg.query_id == "q1" and msg.type == "context" and msg.relation == "behind"
    np.testing.assert_allclose(conv.points_2d_from_msg(msg), answer.points_2d, atol=1e-6)
    np.testing.assert_allclose(conv.points_3d_from_msg(msg), answer.points_3d, atol=1e-9)

    objects = deserialize_message(serialize_message(conv.scene_to_msg(scene, "panda_link0")), DetectedObjectArray)
    back_scene = conv.scene_from_msg(objects)
    back = back_scene.objects
    assert [o.name for o in back] == scene.names and objects.header.frame_id == "panda_link0"
    np.testing.assert_allclose(back_scene.camera.camera_to_world, scene.camera.camera_to_world, atol=1e-6)
    np.testing.assert_allclose(back_scene.camera.K, scene.camera.K)
    for before, after in zip(scene.objects, back):
        np.testing.assert_allclose(after.box.corners(), before.box.corners(), atol=1e-6)
        assert after.facing is None  # perceived objects: front unknown

    failed = conv.error_answer_msg("is the cat left of the bowl?", "unknown object 'cat'")
    assert not failed.success and "cat" in failed.error


# --- The wheel: what a non-editable install (pip install . or a built wheel) actually gets ---

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = REPO / "robospatial_ros"
QUESTION = "is the mug left of the bowl?"
PURELIB = "import sysconfig; print(sysconfig.get_path('purelib'))"

# Stands in the fresh venv's site-packages (a .pth `import` line loads it): when RS_IMPORTS_OUT is set, the
# process writes {module name: file} of every robospatial_ros module it imported, and the package's __path__,
# at exit, so the test checks what the real `robospatial` script imported rather than what a probe would.
RECORD_IMPORTS = """
import atexit, json, os, sys

NAME = "robospatial_ros"


def _dump():
    mods = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items()) if n.partition(".")[0] == NAME}
    pkg = sys.modules.get(NAME)
    with open(os.environ["RS_IMPORTS_OUT"], "w") as f:
        json.dump({"modules": mods, "path": list(getattr(pkg, "__path__", []))}, f)

if os.environ.get("RS_IMPORTS_OUT"):
    atexit.register(_dump)
"""


@dataclass(frozen=True)
class FreshVenv:
    root: Path
    site_packages: Path  # the fresh venv's purelib, where the wheel went

    @property
    def robospatial(self) -> Path:
        return self.root / "bin" / "robospatial"


def _offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return {**env, "PIP_NO_INDEX": "1", **extra}


def _run(cmd: list, cwd: Path, env: dict[str, str], timeout_s: float = 180) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _source_package_dirs() -> list[Path]:
    """Every folder under robospatial_ros holding .py files, found on disk (not by find_packages, which skips a
    folder without __init__.py: exactly the miss this is here to catch)."""
    dirs = {p.parent for p in PACKAGE_ROOT.rglob("*.py") if "__pycache__" not in p.parts}
    return sorted(d for d in dirs if not any(part.startswith(".") for part in d.relative_to(REPO).parts))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Builds the wheel from the repo root, offline. setuptools' build/ and *.egg-info go to a fresh temp dir
    (DIST_EXTRA_CONFIG): a build/lib left over from an older layout would otherwise be copied into the wheel
    and hide a package that find_packages no longer finds, and the shared checkout stays untouched."""
    tmp = tmp_path_factory.mktemp("wheel")
    extra_cfg = tmp / "redirect_build.cfg"
    extra_cfg.write_text(f"[build]\nbuild_base = {tmp / 'build'}\n[egg_info]\negg_base = {tmp}\n")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp, "."]
    _run(cmd, REPO, _offline_env(DIST_EXTRA_CONFIG=str(extra_cfg)))
    (built,) = tmp.glob("robospatial_ros-*.whl")
    return built


def test_wheel_holds_every_package_its_modules_and_data(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    package_dirs = _source_package_dirs()
    assert PACKAGE_ROOT / "bench" in package_dirs and PACKAGE_ROOT / "core" / "reasoning" / "vlm" in package_dirs
    missing = []
    for folder in package_dirs:
        rel = folder.relative_to(REPO).as_posix()
        missing += [f"{rel}/__init__.py"] if f"{rel}/__init__.py" not in names else []
        missing += [f"{rel}/{p.name}" for p in sorted(folder.glob("*.py")) if f"{rel}/{p.name}" not in names]
    assert not missing, f"not in {wheel.name}: {missing}"

    data = sorted((PACKAGE_ROOT / "data").glob("*.json")) + sorted((PACKAGE_ROOT / "data").glob("*.yaml"))
    assert {"tabletop_scene.json", "tabletop.yaml"} <= {p.name for p in data}
    assert not [p for p in data if p.relative_to(REPO).as_posix() not in names]

    # Only the library and its metadata: no tests/, no stray top-level modules.
    # Only the library, its metadata and its data_files (ROS executables, share/): no tests/, no stray modules.
    tops = {n.split("/")[0] for n in names} - {"robospatial_ros"}
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    assert tops == {dist_info, dist_info.removesuffix(".dist-info") + ".data"}, tops
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "robospatial = robospatial_ros.cli.main:main" in entry_points


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    """A new venv with only the wheel installed; numpy, pyyaml, opencv and tqdm come from this interpreter's
    site-packages through a .pth that lists that directory and nothing else. The .pth is written after the install:
    with it in place pip would see the checkout's editable robospatial_ros and try to uninstall it from the
    current venv. Site dirs named in a .pth are not scanned for .pth files themselves, so the editable
    install's own .pth (which puts the checkout on sys.path) is not processed."""
    root = tmp_path_factory.mktemp("venv") / "fresh"
    env = _offline_env()
    _run([sys.executable, "-m", "venv", "--without-pip", root], root.parent, env)
    python = root / "bin" / "python"
    site_packages = Path(_run([python, "-c", PURELIB], root.parent, env).stdout.strip())
    install = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel]
    _run(install, root.parent, env)
    (site_packages / "runtime_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    (site_packages / "record_robospatial_imports.py").write_text(RECORD_IMPORTS)
    (site_packages / "record_robospatial_imports.pth").write_text("import record_robospatial_imports\n")
    return FreshVenv(root, site_packages)


def test_installed_wheel_answers_a_question_from_the_fresh_venv(fresh_venv: FreshVenv, tmp_path: Path):
    from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
    from robospatial_ros.core.resources import DEFAULT_SCENE
    from robospatial_ros.core.scene import load_scene

    scene = fresh_venv.site_packages / "robospatial_ros" / "data" / "tabletop_scene.json"  # the wheel's copy
    record = tmp_path / "imports.json"
    cmd = [fresh_venv.robospatial, "ask", "--scene", scene, QUESTION, "--json"]
    out = _run(cmd, tmp_path, _offline_env(RS_IMPORTS_OUT=str(record)), timeout_s=120)

    answer = json.loads(out.stdout)
    assert [answer[k] for k in ("type", "object", "reference", "relation")] == ["configuration", "mug", "bowl", "left"]
    expected = GeometricReasoner().ask(load_scene(DEFAULT_SCENE), QUESTION).to_dict()  # the checkout's answer
    assert answer == json.loads(json.dumps(expected))

    imported = json.loads(record.read_text())
    modules = imported["modules"]
    assert "robospatial_ros.core.reasoning.reasoner" in modules and "robospatial_ros.cli.main" in modules
    site = fresh_venv.site_packages.resolve()
    outside = {n: f for n, f in modules.items() if f is not None and not Path(f).resolve().is_relative_to(site)}
    assert not outside, f"imported from outside the fresh venv: {outside}"
    assert str(PACKAGE_ROOT) not in imported["path"]  # the checkout is not even a portion of the package


def test_installed_wheel_finds_its_benchmarks(fresh_venv: FreshVenv, tmp_path: Path):
    """`robospatial bench` lists robospatial_ros/bench next to the installed cli: an unknown name lists them."""
    cmd = [fresh_venv.robospatial, "bench", "no_such_bench"]
    out = subprocess.run(cmd, cwd=tmp_path, env=_offline_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    listed = out.stderr.rsplit("available:", 1)[-1].replace(",", " ").split()
    shipped = sorted(p.stem for p in (PACKAGE_ROOT / "bench").glob("*.py") if not p.stem.startswith("_"))
    assert listed == shipped and "query" in listed
