# robospatial_ros: from a fresh clone, `make demo` and `make test` are all you need.
# `make setup` (run by both) creates .venv, installs every dependency from PyPI,
# patches the ROS wheels' CMake exports and builds the ROS messages with colcon.
# Each step leaves a stamp in .venv and re-runs only when its inputs change.

PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
STAMP_DEPS := $(VENV)/.stamp-deps
STAMP_MSGS := $(VENV)/.stamp-msgs
DEMO_OUT ?= demo_out
PYTEST_ARGS ?=

# Tests run nodes over real DDS: keep discovery on this machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export MUJOCO_GL ?= egl

.PHONY: setup demo test lint bench clean distclean

setup: $(STAMP_MSGS)

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

$(STAMP_MSGS): $(STAMP_DEPS) msg/*.msg CMakeLists.txt package.xml
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(BIN)):$$PATH \
	CMAKE_PREFIX_PATH=$(abspath $(VENV)) AMENT_PREFIX_PATH=$(abspath $(VENV)) \
	$(BIN)/colcon --log-base build/colcon-log build --paths . \
	  --build-base build/colcon --install-base $(VENV) --merge-install \
	  --event-handlers console_direct- \
	  --cmake-args -DROBOSPATIAL_INSTALL_PYTHON=OFF -DPython3_EXECUTABLE=$(abspath $(PY)) \
	  -DBUILD_TESTING=OFF
	# rosidl writes an empty robospatial_ros/__init__.py next to the generated
	# msg/; removing it leaves that directory a namespace portion that the
	# source package (whose __init__ extends __path__) picks up.
	rm -f $(SITE)/robospatial_ros/__init__.py
	$(PY) -c 'import robospatial_ros.msg'
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
