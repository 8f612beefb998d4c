# robospatial_ros: from a fresh clone, `make demo` and `make test` are all you need.
# `make setup` (run by both) creates .venv, installs every dependency from PyPI,
# patches the ROS wheels' CMake exports and builds the ROS messages with colcon.
# Each step leaves a stamp in .venv and re-runs only when its inputs change.
# With ../shared/ros2-launch beside the checkout (CI has it; a ROS install provides the same), it also
# installs the real ROS 2 launch system (launch, launch_ros, the ros2 command), so `ros2 launch` and its
# tests run; without it that step is skipped and those tests say why.

PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
STAMP_DEPS := $(VENV)/.stamp-deps
STAMP_MSGS := $(VENV)/.stamp-msgs
STAMP_LAUNCH := $(VENV)/.stamp-launch
LAUNCH_SRC := ../shared/ros2-launch
# Not launch_testing, launch_testing_ros, launch_pytest: their pytest plugins fail to load under pytest 9
# (hook arguments pytest removed) and would stop every test run; our launch tests drive `ros2 launch` itself.
LAUNCH_WHEELS := $(filter-out $(LAUNCH_SRC)/wheels/launch_testing% $(LAUNCH_SRC)/wheels/launch_pytest%,\
  $(wildcard $(LAUNCH_SRC)/wheels/*.whl))
SETUP_LAUNCH := $(if $(LAUNCH_WHEELS),$(STAMP_LAUNCH))
DEMO_OUT ?= demo_out
PYTEST_ARGS ?=

# Tests run nodes over real DDS: keep discovery on this machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export MUJOCO_GL ?= egl

.PHONY: setup demo test lint bench clean distclean

setup: $(STAMP_MSGS) $(SETUP_LAUNCH)
	@$(if $(SETUP_LAUNCH),true,echo "note: no $(LAUNCH_SRC): ros2 launch not installed (a ROS 2 install provides it)")

# Debian libraries the wheels load but do not ship: libusb for pyrealsense2 and open3d,
# EGL/Mesa for MuJoCo's headless rendering (MUJOCO_GL=egl).
APT_PACKAGES := libusb-1.0-0 libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri

$(STAMP_DEPS): setup.py requirements/*.txt Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/ros.txt -r requirements/dev.txt -r requirements/ml.txt
	# editable_mode=compat: a plain path entry, so the sources and the
	# colcon-generated robospatial_ros.msg in site-packages merge into one package.
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e ".[perception,sim,realsense,vlm,train,dev]"
	$(PY) tools/fix_ros_cmake.py $(VENV)
	touch $@

# colcon into the venv, which acts as the ROS prefix (merge-install).
COLCON_BUILD = VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH \
	CMAKE_PREFIX_PATH=$(abspath $(VENV)) AMENT_PREFIX_PATH=$(abspath $(VENV)) \
	$(BIN)/colcon --log-base build/colcon-log build --build-base build/colcon --install-base $(VENV) \
	  --merge-install --event-handlers console_direct-
# The venv is an ament prefix for every Python it runs (`ros2 launch robospatial_ros ...` with the venv
# active, the nodes, the tests): appended to AMENT_PREFIX_PATH, so a sourced ROS workspace still comes first.
AMENT_PTH := import os, sys; os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(dict.fromkeys( \
  [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]))

# The messages, and lib/robospatial_ros/<node> (first line: this venv's python) + share/robospatial_ros/
# {launch,config,urdf} for ros2 launch; re-run when any of them changes.
SHARED_FILES := $(wildcard launch/*.py config/*.yaml config/*.xml config/*.rviz config/curriculum/*.yaml urdf/*.urdf)
$(STAMP_MSGS): $(STAMP_DEPS) msg/*.msg CMakeLists.txt package.xml $(wildcard scripts/*[a-z]) $(SHARED_FILES)
	$(COLCON_BUILD) --paths . \
	  --cmake-args -DROBOSPATIAL_INSTALL_PYTHON=OFF -DPython3_EXECUTABLE=$(abspath $(PY)) \
	  -DBUILD_TESTING=OFF
	# rosidl writes an empty robospatial_ros/__init__.py next to the generated
	# msg/; removing it leaves that directory a namespace portion that the
	# source package (whose __init__ extends __path__) picks up.
	rm -f $(SITE)/robospatial_ros/__init__.py
	echo '$(AMENT_PTH)' > $(SITE)/robospatial_ament_prefix.pth
	$(PY) -c 'import robospatial_ros.msg'
	touch $@

# The real launch system from ../shared/ros2-launch (see its PROVENANCE.md): its wheels without their
# dependencies (launch_ros asks for ament_index_python by its ROS name; the PyPI wheel is installed),
# and composition_interfaces, which launch_ros imports, built with colcon into the venv (~20-75 s).
$(STAMP_LAUNCH): $(LAUNCH_WHEELS) $(wildcard $(LAUNCH_SRC)/composition_interfaces/*/*) | $(STAMP_MSGS)
	$(PY) -m pip install --quiet --no-index --no-deps $(LAUNCH_WHEELS)
	$(COLCON_BUILD) --paths $(LAUNCH_SRC)/composition_interfaces \
	  --cmake-args -DPython3_EXECUTABLE=$(abspath $(PY)) -DBUILD_TESTING=OFF
	$(PY) -c 'from launch_ros.actions import Node'
	touch $@

DEMO_COMMAND ?= put the mug to the left of the bowl
DEMO_SEED ?= 0

demo: setup
	$(BIN)/robospatial demo "$(DEMO_COMMAND)" --seed $(DEMO_SEED) --out $(DEMO_OUT)

lint: setup
	$(BIN)/ruff check robospatial_ros tests tools launch
	$(BIN)/ruff format --check robospatial_ros tests tools launch

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/robospatial bench query

clean:
	rm -rf build $(DEMO_OUT) .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
