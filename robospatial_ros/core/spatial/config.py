"""SpatialConfig: every knob of the spatial semantics, with the reference generator's defaults.

Defaults reproduce NVlabs/RoboSpatial on room-scale scenes; `config/tabletop.yaml`
holds the values a tabletop needs (1 cm grid, tighter thresholds).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from robospatial_ros.core.configio import check_field_types
from robospatial_ros.core.errors import ConfigError

STRICTNESS = ("strict", "lenient")
WORLD_HEADINGS = ("camera", "base")
GRID_ALIGNMENTS = ("edge", "center")
OBJECT_FACINGS = ("all", "listed")
CATEGORY_MATCHES = ("words", "exact")

# Our own lists (open vocabulary, matched on an object's category: 'red mug_2' -> 'red mug'; by
# default any listed word or phrase in it counts, see `category_matches`). A surface others can stand on ...
DEFAULT_FLAT_SURFACES = (
    "table",
    "desk",
    "counter",
    "countertop",
    "shelf",
    "tray",
    "plate",
    "board",
    "box",
    "crate",
    "stool",
    "bench",
    "cabinet",
    "dresser",
    "stand",
    "book",
    "mat",
    "cart",
    "platform",
    "pallet",
)
# ... things too large or fixed to be placed anywhere ...
DEFAULT_NOT_PLACEABLE = (
    "table",
    "desk",
    "counter",
    "countertop",
    "floor",
    "wall",
    "ceiling",
    "door",
    "window",
    "refrigerator",
    "fridge",
    "sofa",
    "couch",
    "bed",
    "wardrobe",
    "robot",
    "arm",
)
# ... and things with a front of their own (used with `object_facing: listed`).
DEFAULT_FACING_CATEGORIES = (
    "tv",
    "television",
    "monitor",
    "screen",
    "laptop",
    "computer",
    "microwave",
    "oven",
    "stove",
    "refrigerator",
    "fridge",
    "dishwasher",
    "washing machine",
    "cabinet",
    "drawer",
    "dresser",
    "wardrobe",
    "shelf",
    "bookshelf",
    "desk",
    "chair",
    "sofa",
    "couch",
    "bed",
    "toilet",
    "sink",
    "fireplace",
    "piano",
    "door",
    "window",
    "mirror",
    "picture",
    "poster",
    "clock",
    "camera",
    "speaker",
    "printer",
    "projector",
    "telephone",
    "phone",
    "radio",
    "fan",
    "heater",
    "kettle",
    "toaster",
    "book",
    "mailbox",
    "stairs",
    "car",
    "bicycle",
    "robot",
)


def category_words(category: str) -> tuple[str, ...]:
    """'red coffee_mug' -> ('red', 'coffee', 'mug'): the words a category is matched by."""
    return tuple(category.replace("_", " ").split())


@functools.lru_cache(maxsize=4096)  # asked per object and question; the lists are tuples
def category_matches(category: str, listed: tuple[str, ...], mode: str) -> bool:
    """Whether a category ('red mug', see scene.category_of) names one of `listed`.

    exact: the whole category equals an entry (the reference generator's rule, which compares the
    verbatim name: "wooden pallet crate" is not "crate"); words: an entry's words appear in a row
    among the category's ("wooden pallet crate" is a "crate", "old washing machine" a "washing machine").
    """
    if mode == "exact":
        return category in listed
    words = category_words(category)
    for entry in listed:
        want = category_words(entry)
        n = len(want)
        if n and any(words[i : i + n] == want for i in range(len(words) - n + 1)):
            return True
    return False


@dataclass(frozen=True)
class SpatialConfig:
    """Knobs of the spatial core; lengths in metres. See docs/architecture.md, "Spatial semantics"."""

    # strict: extents must separate (A.max_x < B.min_x); lenient: centroids decide.
    strictness: str = "strict"
    # camera: world left/right/front/behind as in the reference (= ego); base: robot base axes.
    world_heading: str = "camera"
    # Top-down occupancy grid cell size (reference: 0.1 m for rooms; tabletops need ~0.01 m).
    grid_resolution_m: float = 0.1
    # Context points are free cells within this distance of the reference footprint.
    context_threshold_m: float = 0.5
    # Compatibility: width of the buffer ring checked around a placed footprint.
    min_distance_m: float = 0.2
    # Compatibility: a placement fits while occupied buffer cells / footprint cells < this.
    buffer_ratio: float = 0.5
    # Most context points returned per answer (best first).
    max_context_points: int = 50
    # Compatibility: footprint rotations tried, relative to the object's current yaw.
    compatibility_angles_deg: tuple[float, ...] = (0.0, 45.0, 90.0)
    # An object stands on another whose top is this close to its bottom.
    support_tolerance_m: float = 0.03
    # Drop context points whose pixel falls on the reference object's own silhouette
    # (as the reference generator does); other objects always occlude, supports never.
    occlude_by_reference: bool = True
    # Where the grid's points lie: edge: the first row and column on the edge of the grid's area, one
    # cell apart (the reference generator's); center: half a cell in, at the centres of the cells.
    grid_alignment: str = "edge"
    # Which objects have a front for object-frame context and compatibility: all (every object faces
    # along its facing, the box's x axis in scene files); listed: only objects whose category matches
    # `facing_categories` (the reference generator's rule; the others get no object-frame points and
    # every object-frame compatibility answer is No). Object-frame configuration always uses the facing.
    object_facing: str = "all"
    facing_categories: tuple[str, ...] = DEFAULT_FACING_CATEGORIES
    # How categories match flat_surfaces / not_placeable / facing_categories: words (any listed word or
    # phrase in the category) or exact (the whole category, as the reference generator compares names).
    category_match: str = "words"
    flat_surfaces: tuple[str, ...] = DEFAULT_FLAT_SURFACES
    not_placeable: tuple[str, ...] = DEFAULT_NOT_PLACEABLE
    # Resource guards: the most cells one occupancy grid may have (a 1 cm grid over 20 m x 20 m), and the
    # most objects a scene may hold; beyond either a question is refused before any array is allocated.
    max_grid_cells: int = 4_000_000
    max_objects: int = 1000

    def __post_init__(self) -> None:
        check_field_types(self)
        for name, allowed in (
            ("strictness", STRICTNESS),
            ("world_heading", WORLD_HEADINGS),
            ("grid_alignment", GRID_ALIGNMENTS),
            ("object_facing", OBJECT_FACINGS),
            ("category_match", CATEGORY_MATCHES),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("grid_resolution_m", "context_threshold_m"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("min_distance_m", "support_tolerance_m"):
            if not float(getattr(self, name)) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 < float(self.buffer_ratio) <= 1.0:
            raise ConfigError(f"buffer_ratio must be in (0, 1], got {self.buffer_ratio!r}")
        if int(self.max_context_points) < 1:
            raise ConfigError(f"max_context_points must be >= 1, got {self.max_context_points!r}")
        if not self.compatibility_angles_deg:
            raise ConfigError("compatibility_angles_deg must list at least one angle")
        if self.grid_resolution_m > self.context_threshold_m:
            raise ConfigError("grid_resolution_m must not exceed context_threshold_m")
        self._check_budgets()

    def _check_budgets(self) -> None:
        """The guards must be positive, and the square stencils the buffer ring and the context
        threshold span (2 * cells + 1 cells a side) must fit the grid budget, else numpy fails later."""
        for name in ("max_grid_cells", "max_objects"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("min_distance_m", "context_threshold_m"):
            side = 2.0 * math.ceil(float(getattr(self, name)) / float(self.grid_resolution_m)) + 1.0
            if not math.isfinite(side) or side * side > self.max_grid_cells:
                raise ConfigError(
                    f"{name}={getattr(self, name)!r} spans {side:.3g} cells of grid_resolution_m="
                    f"{self.grid_resolution_m!r}: more than max_grid_cells={self.max_grid_cells} allows"
                )
