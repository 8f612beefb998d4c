"""The MuJoCo tabletop: a Panda, a table, named objects and a simulated D435 (mujoco imported lazily)."""

from robospatial_ros.sim.executor import ExecutionResult, ExecutorConfig
from robospatial_ros.sim.tabletop import (
    PICKABLE,
    SimError,
    SimFrame,
    TabletopConfig,
    TabletopSim,
    close_renderers,
)

__all__ = [
    "PICKABLE",
    "ExecutionResult",
    "ExecutorConfig",
    "SimError",
    "SimFrame",
    "TabletopConfig",
    "TabletopSim",
    "close_renderers",
]
