"""The install paths besides `make setup` (tested in test_launch.py): colcon as a ROS user does it (a workspace
src/robospatial_ros, `colcon build`, `source install/setup.bash`), and pip (a wheel). On both, lib/robospatial_ros/
holds the executables ros2 run and launch start, with the interpreter that has the package; `robospatial bringup`
finds config/ and urdf/ through the ament index, says so, and fails on a missing file instead of running on
silent defaults."""

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from ros_helpers import Probe, Process, fresh_domain_id, ros_env

from robospatial_ros.ros.graph import PACKAGE, SIM_GRAPH, camera_pose_overrides

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
SOURCES = ("CMakeLists.txt", "package.xml", "msg", "robospatial_ros", "scripts", "launch", "config", "urdf")


def _copy_sources(dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, dest / name)


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """A colcon workspace holding a copy of this package, built and installed (about 40 s); its install/."""
    ws = tmp_path_factory.mktemp("ws")
    _copy_sources(ws / "src" / PACKAGE)
    env = dict(os.environ, CMAKE_PREFIX_PATH=str(VENV), AMENT_PREFIX_PATH=str(VENV))
    env["PATH"] = f"{VENV / 'bin'}:{env['PATH']}"
    base = ["--build-base", ws / "build", "--install-base", ws / "install", "--event-handlers", "console_direct-"]
    cmake = ["--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"]
    cmd = [VENV / "bin" / "colcon", "--log-base", ws / "log", "build", "--base-paths", ws / "src", *base, *cmake]
    out = subprocess.run([str(c) for c in cmd], cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return ws / "install"


def sourced(install: Path, command: str) -> list[str]:
    """`bash -c 'source install/setup.bash && COMMAND'`, with the venv neither active nor on PATH."""
    return ["bash", "-c", f"source {install}/setup.bash && exec {command}"]


def _env(domain: int) -> dict[str, str]:
    env = ros_env(domain)
    for key in ("VIRTUAL_ENV", "AMENT_PREFIX_PATH", "PYTHONPATH"):
        env.pop(key, None)
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env


def test_executables_name_the_interpreter_they_were_built_for(install):
    for name in ("robospatial", *(s.executable for s in SIM_GRAPH)):
        first = (install / PACKAGE / "lib" / PACKAGE / name).read_text().splitlines()[0]
        assert first == f"#!{sys.executable}", (name, first)


def test_bringup_finds_config_and_urdf_through_the_ament_index(install):
    share = install / PACKAGE / "share" / PACKAGE
    exe = install / PACKAGE / "lib" / PACKAGE / "robospatial"
    domain = fresh_domain_id()
    with Process(sourced(install, f"{exe} bringup"), _env(domain)) as bringup:
        probe = Probe(domain)
        try:
            assert bringup.wait_for_line("running perception", 60), bringup.output
            assert f"config/ and urdf/ from {share} (ament index)" in bringup.output
            urdf_pose = camera_pose_overrides(share / "urdf" / "workcell.urdf")
            pose = probe.get_parameters("perception", ["camera_position_m"], timeout_s=30)
            assert pose["camera_position_m"] == urdf_pose["camera_position_m"]
            # config/reasoner.yaml's tabletop grid (1 cm), not the dataclass's room-scale default (10 cm).
            grid = probe.get_parameters("reasoner", ["spatial.grid_resolution_m"])
            assert grid == {"spatial.grid_resolution_m": 0.01}
        finally:
            probe.close()
        assert bringup.stop() == 0, bringup.output[-3000:]


def test_a_missing_installed_file_is_an_error(install, tmp_path):
    share = install / PACKAGE / "share" / PACKAGE
    exe = install / PACKAGE / "lib" / PACKAGE / "robospatial"
    (share / "config" / "reasoner.yaml").rename(tmp_path / "reasoner.yaml")
    try:
        domain = fresh_domain_id()
        cmd = sourced(install, f"{exe} bringup")
        out = subprocess.run(cmd, env=_env(domain), capture_output=True, text=True, timeout=120)
    finally:
        (tmp_path / "reasoner.yaml").rename(share / "config" / "reasoner.yaml")
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"the reasoner node's parameters is missing: {share / 'config' / 'reasoner.yaml'}" in out.stderr


# --- pip ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pip_prefix(tmp_path_factory) -> Path:
    """A fresh venv with the package's wheel (built here, offline) installed; rclpy and the other runtime
    dependencies come from this venv's site-packages through a .pth written after the install."""
    tmp = tmp_path_factory.mktemp("pip")
    cfg = tmp / "redirect_build.cfg"  # setuptools' build/ and egg-info out of the shared checkout
    cfg.write_text(f"[build]\nbuild_base = {tmp / 'build'}\n[egg_info]\negg_base = {tmp}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_NO_INDEX="1", DIST_EXTRA_CONFIG=str(cfg))
    pip = [sys.executable, "-m", "pip"]
    run = functools.partial(subprocess.run, env=env, capture_output=True, text=True, timeout=300, check=True)
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp), "."], cwd=REPO)
    (wheel,) = tmp.glob("robospatial_ros-*.whl")
    prefix = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(prefix)])
    run([*pip, "--python", str(prefix / "bin" / "python"), "install", "--no-deps", str(wheel)])
    purelib = run([prefix / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    (Path(purelib.stdout.strip()) / "runtime_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return prefix


def test_pip_installs_the_node_executables_and_the_package_share(pip_prefix):
    lib = pip_prefix / "lib" / PACKAGE
    assert (pip_prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    assert (pip_prefix / "share" / PACKAGE / "config" / "reasoner.yaml").is_file()
    env = _env(fresh_domain_id())
    # lib/robospatial_ros/planner_node runs robospatial-planner with the venv's python: a bad parameter is its error.
    cmd = [lib / "planner_node", "--ros-args", "-p", "executor:=nope"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unknown executor 'nope'" in out.stdout + out.stderr, out.stdout + out.stderr
    code = "from robospatial_ros.ros.graph import package_files; print(package_files().describe())"
    env["AMENT_PREFIX_PATH"] = str(pip_prefix)
    cmd = [pip_prefix / "bin" / "python", "-c", code]  # not from the checkout: `-c` puts the cwd on sys.path
    out = subprocess.run(cmd, cwd=pip_prefix, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == f"config/ and urdf/ from {pip_prefix / 'share' / PACKAGE} (ament index)", out.stderr
