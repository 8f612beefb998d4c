"""SAT-style (Spatial Aptitude Training, arXiv 2412.07755) multiple-choice questions from the MuJoCo tabletop.

Written from the paper's task description. Every item comes from the simulator's exact state:

- dynamic, two images (before, after): `ego_movement` (the camera shifts or turns between the frames),
  `object_movement` (one object is moved and settles under physics);
- hypothetical, one image: `action_consequence` (would a camera move/turn bring an object closer or
  further, nearer the centre of view or not), `goal_aiming` (how to turn to face an object, with a dead
  band around straight ahead), `perspective_taking` (from a numbered marker drawn on the image, facing
  an object or the camera: left/right, closer/further);
- static, one image: `counting`, `relative_depth`, `left_right`.

Directions are "from the camera's perspective" on the horizontal plane (world z up): left/right along the
camera's image x, forward/closer along its viewing direction with the pitch removed. Questions whose
answer falls within a margin of a tie are not asked. `metadata` holds what re-derives each answer (camera
poses as 4x4 camera-to-world optical matrices, object positions, marker pixel and point, angles).

    for sample in sat_samples(SATConfig(image_width_px=320, image_height_px=240), episodes=10, seed=0):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.learn.datagen import sat_tasks
from robospatial_ros.learn.datagen.episodes import check_count, sim_episodes
from robospatial_ros.learn.datagen.records import Sample
from robospatial_ros.learn.datagen.sat_episode import (
    OTHER_LABEL,
    TABLE_LABEL,
    TASKS,
    Episode,
    SATConfig,
    View,
    render_from,
)

# The settings and episodes live in sat_episode (the task builders read them); importable from here too.
__all__ = ["OTHER_LABEL", "TABLE_LABEL", "TASKS", "Episode", "SATConfig", "View", "render_from", "sat_samples"]

# --- the generator -------------------------------------------------------------------------------

_GENERATORS = {
    "ego_movement": sat_tasks.ego_movement,
    "object_movement": sat_tasks.object_movement,
    "action_consequence": sat_tasks.action_consequence,
    "goal_aiming": sat_tasks.goal_aiming,
    "perspective_taking": sat_tasks.perspective_taking,
    "counting": sat_tasks.counting,
    "relative_depth": sat_tasks.relative_depth,
    "left_right": sat_tasks.left_right,
}
_TRIES_PER_QUESTION = 4  # random draws per wanted question before a task gives up on the episode


def sat_samples(config: SATConfig, episodes: int, seed: int) -> Iterator[Sample]:
    """SAT items from `episodes` seeded tabletop layouts: for each, up to `questions_per_task` per task.

    Deterministic for (config, episodes, seed); episode i is the same whatever `episodes` is.
    """
    if not isinstance(config, SATConfig):
        raise ConfigError(f"sat_samples needs a SATConfig, got {type(config).__name__}")
    return _generate(
        config, check_count("episodes", episodes), check_count("seed", seed)
    )  # checked now, generated lazily


def _generate(config: SATConfig, episodes: int, seed: int) -> Iterator[Sample]:
    for episode in sim_episodes(config, episodes, seed, salt=1, desc="sat"):
        yield from _episode_samples(Episode(episode.sim, config, episode.rng, tuple(episode.sim.names)))


def _episode_samples(episode: Episode) -> Iterator[Sample]:
    """Up to questions_per_task items per task, no two with the same question (choices aside)."""
    want = episode.config.questions_per_task
    for task in episode.config.tasks:
        seen: set[str] = set()
        for _ in range(want * _TRIES_PER_QUESTION):
            sample = _GENERATORS[task](episode)
            stem = sample.question.partition(sat_tasks.CHOICES_PREFIX)[0] if sample else ""
            if sample is not None and stem not in seen:
                seen.add(stem)
                yield sample
                if len(seen) == want:
                    break
