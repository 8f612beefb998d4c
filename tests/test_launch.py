"""The shipped launch file under the real ROS 2 launch system: `ros2 launch robospatial_ros robospatial.launch.py`
on the `make setup` install (launch, launch_ros and the ros2 command come from ../shared/ros2-launch; a ROS 2
install provides the same). Each launch runs in its own ROS domain, with discovery on this machine.
"""

import filecmp
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ros_helpers import VENV_BIN, Probe, Process, fresh_domain_id, record_sim_bags, ros_env
from std_msgs.msg import String

from robospatial_ros.msg import DetectedObjectArray, NodeStatus, PickPlacePlan, SpatialAnswer
from robospatial_ros.ros import common
from robospatial_ros.ros.graph import (
    CAMERA_REMAPS,
    LABELS_TOPIC,
    PACKAGE,
    SIM_GRAPH,
    launch_arguments,
    sim_perception_overrides,
    write_params_file,
)

REPO = Path(__file__).resolve().parents[1]
ROS2 = VENV_BIN / "ros2"
PREFIX = Path(sys.prefix)
LAUNCH_FILE = "robospatial.launch.py"


def _missing_launch_system() -> str:
    needed = ("launch", "launch_ros", "ros2launch", "composition_interfaces")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing or not ROS2.is_file():
        return (
            f"the ROS 2 launch system is not installed ({', '.join(missing) or 'ros2'} missing): `make setup` "
            "installs it from ../shared/ros2-launch when that folder is beside the checkout; a ROS 2 install has it"
        )
    return ""


pytestmark = pytest.mark.skipif(bool(_missing_launch_system()), reason=_missing_launch_system() or "-")


@pytest.fixture(scope="module", autouse=True)
def installed_package():
    """ros2 launch reads the installed copy: it must be the checkout's (else `make setup` is due)."""
    share, lib = PREFIX / "share" / PACKAGE, PREFIX / "lib" / PACKAGE
    stale = [
        f"{d}/{f.name}"
        for d in ("launch", "config", "urdf")
        for f in sorted((REPO / d).glob("*.*"))
        if not (share / d / f.name).is_file() or not filecmp.cmp(f, share / d / f.name, shallow=False)
    ]
    stale += [f"lib/{PACKAGE}/{s.executable}" for s in SIM_GRAPH if not (lib / s.executable).is_file()]
    if stale:
        pytest.fail(f"the install in {PREFIX} is older than the checkout ({', '.join(stale)}): run `make setup`")


def launch_env(domain: int, tmp_path: Path) -> dict[str, str]:
    """The venv is not on PATH (the nodes must start with the venv's python anyway); logs stay in tmp_path."""
    env = ros_env(domain)
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", ROS_LOG_DIR=str(tmp_path / "ros_log"))
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO / "config" / "fastdds_large_data.xml")  # camera frames via SHM
    env.pop("VIRTUAL_ENV", None)
    return env


def ros2_launch(env: dict[str, str], *args: str) -> Process:
    return Process([ROS2, "launch", PACKAGE, LAUNCH_FILE, *args], env, cwd=env["ROS_LOG_DIR"].rsplit("/", 1)[0])


def run_ros2_launch(tmp_path: Path, *args: str, timeout_s: float = 60) -> tuple[int | None, str]:
    with ros2_launch(launch_env(fresh_domain_id(), tmp_path), *args) as launch:
        code = launch.wait(timeout_s)
    return code, launch.output


def test_the_installed_executables_run_with_the_package_interpreter():
    for spec in SIM_GRAPH:
        first = (PREFIX / "lib" / PACKAGE / spec.executable).read_text().splitlines()[0]
        assert first == f"#!{sys.executable}", (spec.executable, first)


def test_show_args_describes_every_argument_and_its_choices(tmp_path):
    code, out = run_ros2_launch(tmp_path, "--show-args", timeout_s=60)
    assert code == 0, out
    assert "no description given" not in out
    for arg in launch_arguments():
        assert f"'{arg.name}':" in out and arg.description[:40] in " ".join(out.split())
    assert "'gazebo', 'isaac'" in out  # camera's choices


def test_print_shows_the_nodes(tmp_path):
    code, out = run_ros2_launch(tmp_path, "--print", timeout_s=60)
    assert code == 0, out
    for spec in SIM_GRAPH:
        assert f"ExecInPkg(pkg='{PACKAGE}', exec='{spec.executable}')" in out, spec.executable


@pytest.mark.parametrize(
    "args,needle",
    [
        (["camera:=kinect"], "kinect"),
        (["plan_only:=maybe"], "maybe"),
        (["params_file:=/no/such/params.yaml"], "/no/such/params.yaml"),
    ],
)
def test_bad_arguments_are_errors(tmp_path, args, needle):
    code, out = run_ros2_launch(tmp_path, *args, timeout_s=60)
    assert code not in (0, None), out
    assert needle in out
    assert "process started" not in out  # checked before any node starts


def _user_params(tmp_path: Path) -> tuple[Path, list[float]]:
    """A user's params file setting the four values launch used to override: the camera pose (shifted 1 mm
    from the simulator's), backend (an explicit argument overrides it), plan_only and use_sim_time."""
    position = [v + 0.001 for v in sim_perception_overrides()["camera_position_m"]]
    path = tmp_path / "user_params.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    use_sim_time: true\n"
        f"perception:\n  ros__parameters:\n    camera_position_m: {position}\n"
        "reasoner:\n  ros__parameters:\n    backend: hybrid\n"
        "planner:\n  ros__parameters:\n    plan_only: false\n"
    )
    return path, position


def test_sim_launch_places_on_command_with_params_file_and_gazebo_topics(tmp_path):
    """sim:=true camera:=gazebo: the simulator publishes on Gazebo's topics and perception reads them; the user's
    params file wins over the package's values (camera pose, plan_only, use_sim_time), an explicit argument wins
    over the file (backend); a command yields an answer, a placement, a plan and its execution, on sim time."""
    domain = fresh_domain_id()
    params, position = _user_params(tmp_path)
    args = ("sim:=true", "camera:=gazebo", f"params_file:={params}", "backend:=geometric")
    probe = None
    with ros2_launch(launch_env(domain, tmp_path), *args) as launch:
        try:
            probe = Probe(domain)
            for msg_type, topic, qos in (
                (DetectedObjectArray, common.OBJECTS_TOPIC, common.LATCHED),
                (SpatialAnswer, common.ANSWER_TOPIC, common.RELIABLE),
                (PickPlacePlan, common.PLAN_TOPIC, common.RELIABLE),
                (NodeStatus, common.STATUS_TOPIC, common.RELIABLE),
            ):
                probe.subscribe(msg_type, topic, qos)
            assert probe.spin_until(lambda: probe.received[common.OBJECTS_TOPIC], 60), launch.output[-3000:]
            for topic in CAMERA_REMAPS["gazebo"].values():  # the simulator publishes there, perception reads there
                counts = lambda t=topic: (probe.node.count_publishers(t), probe.node.count_subscribers(t))  # noqa: E731
                assert probe.spin_until(lambda c=counts: c() == (1, 1), 15), (topic, counts())
            assert probe.node.count_publishers(common.COLOR_TOPIC) == 0
            assert probe.get_parameters("perception", ["camera_position_m"])["camera_position_m"] == position
            assert probe.get_parameters("reasoner", ["backend"]) == {"backend": "geometric"}
            assert probe.get_parameters("planner", ["plan_only", "use_sim_time"]) == {
                "plan_only": False,
                "use_sim_time": True,
            }
            assert probe.wait_for_subscribers(common.COMMAND_TOPIC)
            probe.publish(
                String, common.COMMAND_TOPIC, String(data="put the can to the right of the bowl"), common.RELIABLE
            )
            assert probe.spin_until(lambda: probe.received[common.ANSWER_TOPIC], 30), launch.output[-3000:]
            answer = probe.received[common.ANSWER_TOPIC][0]
            assert answer.success and answer.has_placement and answer.query_id == "cmd-1", answer.error
            assert answer.header.stamp.sec < 1_000_000  # the reasoner's clock is the simulator's (/clock)
            statuses = lambda: [f"{s.node}: {s.event}: {s.message}" for s in probe.received[common.STATUS_TOPIC]]  # noqa: E731
            assert probe.spin_until(lambda: probe.received[common.PLAN_TOPIC], 30), (statuses(), launch.output[-3000:])
            assert not probe.received[common.PLAN_TOPIC][0].plan_only

            def executed():
                return next((s for s in probe.received[common.STATUS_TOPIC] if s.event == "execution"), None)

            assert probe.spin_until(executed, 60), launch.output[-3000:]
            assert executed().level == NodeStatus.OK, executed().message
        finally:
            if probe is not None:
                probe.close()
        code = launch.stop()
    assert code == 0, launch.output[-3000:]
    assert "Traceback" not in launch.output


def test_bag_argument_plays_a_recording_into_the_graph(tmp_path, large_data_dds):
    """bag:=BAG (a recording of the simulator's camera topics, made here): the graph perceives it, the replay
    ends and the graph keeps serving (the objects stay latched for commands)."""
    bag = record_sim_bags(tmp_path, 5, fresh_domain_id())["mcap"]
    params = write_params_file(tmp_path / "perception.yaml", {"perception": sim_perception_overrides()})
    domain = fresh_domain_id()
    with ros2_launch(launch_env(domain, tmp_path), f"bag:={bag}", f"params_file:={params}") as launch:
        probe = Probe(domain)
        try:
            probe.subscribe(DetectedObjectArray, common.OBJECTS_TOPIC, common.LATCHED)
            assert probe.spin_until(lambda: probe.received[common.OBJECTS_TOPIC], 60), launch.output[-3000:]
            assert {"mug", "bowl"} <= {o.id for o in probe.received[common.OBJECTS_TOPIC][-1].objects}
            assert launch.wait_for_line("bag replay finished", 30), launch.output[-3000:]
            assert "replayed 20 messages of 4 topics" in launch.output
            assert launch.proc.poll() is None
        finally:
            probe.close()
        assert launch.stop() == 0, launch.output[-3000:]


def test_isaac_camera_topics_are_remapped(tmp_path):
    """camera:=isaac: the camera topics and Isaac's segmentation labels (labels_topic) are read, the labels
    as 32SC1 ids named by labels_file."""
    domain = fresh_domain_id()
    names = tmp_path / "isaac_labels.json"
    names.write_text('{"0": {"class": "BACKGROUND"}, "2": {"class": "mug"}}')
    args = ("camera:=isaac", "labels_topic:=/isaac/semantic_segmentation", f"labels_file:={names}")
    with ros2_launch(launch_env(domain, tmp_path), *args) as launch:
        probe = Probe(domain)
        try:
            for topic in CAMERA_REMAPS["isaac"].values():  # perception (and the reasoner's model backends) read them
                assert probe.spin_until(lambda t=topic: probe.node.count_subscribers(t) >= 1, 40), launch.output
            assert probe.node.count_subscribers(common.COLOR_TOPIC) == 0
            assert probe.spin_until(lambda: probe.node.count_subscribers("/isaac/semantic_segmentation") == 1, 15)
            assert probe.node.count_subscribers(LABELS_TOPIC) == 0
            assert probe.get_parameters("perception", ["detections", "labels.encoding", "labels.names_file"]) == {
                "detections": "labels",
                "labels.encoding": "ids",
                "labels.names_file": str(names.resolve()),
            }
        finally:
            probe.close()
        assert launch.stop() == 0, launch.output[-3000:]


def test_a_node_that_exits_shuts_the_launch_down_saying_which_and_why(tmp_path):
    """backend:=hybrid without a model: the reasoner cannot start; launch stops the other nodes and fails."""
    code, out = run_ros2_launch(tmp_path, "backend:=hybrid", timeout_s=60)
    assert code not in (0, None), out[-3000:]
    assert "node reasoner exited with code 2" in out
    assert "model_path" in out.rsplit("node reasoner exited", 1)[1]  # why, in the same line
    for name in ("perception_node", "planner_node"):
        assert f"sending signal 'SIGINT' to process[{name}" in out or f"[{name}-" in out


def test_respawn_restarts_a_node_that_exits(tmp_path):
    with ros2_launch(launch_env(fresh_domain_id(), tmp_path), "backend:=hybrid", "respawn:=true") as launch:

        def starts() -> int:
            return sum("reasoner_node" in line and "process started" in line for line in launch.lines)

        deadline = time.monotonic() + 60
        while starts() < 2 and time.monotonic() < deadline and launch.proc.poll() is None:
            time.sleep(0.1)
        assert starts() >= 2, launch.output[-3000:]
        assert launch.proc.poll() is None and "exited with code" not in launch.output  # still running
        assert launch.stop() == 0


def test_the_venv_is_an_ament_prefix_without_sourcing_anything():
    """`ros2 launch robospatial_ros ...` with only the venv active: its Python sees the venv as an ament prefix."""
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    code = "from ament_index_python.packages import get_package_prefix as p; print(p('robospatial_ros'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == PREFIX
