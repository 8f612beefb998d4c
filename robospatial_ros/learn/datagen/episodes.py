"""Seeded simulator episodes shared by the generators (robospatial, sat, grounding), and their progress bars.

A generator config that draws tabletop layouts carries the same flat keys: `sim_objects` (catalog
names to draw from), `min_objects` / `max_objects` (the count, uniform in [min, max]),
`image_width_px` / `image_height_px` and `progress`. Episode i's layout depends only on (seed, i),
so asking for more episodes never changes the earlier ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.sim.objects import CATALOG

if TYPE_CHECKING:
    from robospatial_ros.sim.tabletop import TabletopSim

T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, unit: str, enabled: bool) -> Iterable[T]:
    """`items` behind a tqdm bar when enabled."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit)


def check_count(name: str, value: Any) -> int:
    """`value` as an int when it is a non-negative integer (bools refused), else a ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_sim_layout(config: Any, least_objects: int = 1) -> None:
    """Validate a generator config's layout keys (see the module docstring); ConfigError names the key."""
    names = list(config.sim_objects)
    unknown = [n for n in names if n not in CATALOG]
    if unknown or len(names) < least_objects or len(set(names)) != len(names):
        raise ConfigError(
            f"sim_objects must be >= {least_objects} distinct names from {', '.join(CATALOG)}, got {names}"
        )
    if not least_objects <= config.min_objects <= config.max_objects <= len(names):
        raise ConfigError(
            f"need {least_objects} <= min_objects <= max_objects <= {len(names)} (the sim_objects listed), "
            f"got {config.min_objects}, {config.max_objects}"
        )
    width, height = config.image_width_px, config.image_height_px
    if not (32 <= width <= 4096 and 32 <= height <= 4096):
        raise ConfigError(f"image size must be 32..4096 px, got {width}x{height}")


def episode_seed(seed: int, episode: int) -> int:
    """The layout seed of episode `episode` (independent of how many episodes are asked for)."""
    return int(np.random.SeedSequence([int(seed), int(episode)]).generate_state(1)[0] & 0x7FFFFFFF)


class SimEpisode(NamedTuple):
    index: int
    layout_seed: int
    sim: TabletopSim  # reset to this episode's layout; the same simulator for every episode
    rng: np.random.Generator  # the generator's own draws for this episode (the object count came first)


def _episode_rng(config: Any, seed: int, episode: int, salt: int) -> tuple[int, np.random.Generator, int]:
    """(layout seed, the generator's rng for the episode, the object count it drew first)."""
    layout_seed = episode_seed(seed, episode)
    rng = np.random.default_rng([layout_seed, salt])
    return layout_seed, rng, int(rng.integers(config.min_objects, config.max_objects + 1))


def episode_object_count(config: Any, seed: int, episode: int, salt: int) -> int:
    """How many objects episode `episode` draws (what `sim_episodes` lays out), without a simulator."""
    return _episode_rng(config, seed, episode, salt)[2]


def sim_episodes(config: Any, episodes: int, seed: int, salt: int, desc: str, first: int = 0) -> Iterator[SimEpisode]:
    """`episodes` seeded tabletop layouts (episode `first` onwards), one simulator reused throughout.

    `salt` keeps each generator's draws its own (changing it would change that generator's data).
    """
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede the mujoco import
    from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

    sim = None
    for i in progress_bar(range(first, first + episodes), desc, "episode", config.progress):
        layout_seed, rng, count = _episode_rng(config, seed, i, salt)
        tcfg = TabletopConfig(
            seed=layout_seed,
            objects=config.sim_objects,
            num_objects=count,
            image_width_px=config.image_width_px,
            image_height_px=config.image_height_px,
        )
        if sim is None:
            sim = TabletopSim(tcfg)
        else:
            sim.reset(config=tcfg)
        yield SimEpisode(i, layout_seed, sim, rng)


def sim_shots(
    config: Any, episodes: int, seed: int, salt: int, desc: str, first: int = 0
) -> Iterator[tuple[int, int, Any]]:
    """(episode, layout seed, SimFrame): one render of each of `sim_episodes`."""
    for episode in sim_episodes(config, episodes, seed, salt, desc, first):
        yield episode.index, episode.layout_seed, episode.sim.render()
