"""`robospatial ask --questions FILE.jsonl`: many questions about one scene, in one process.

    robospatial ask --scene SCENE.json --questions FILE.jsonl [--json] [--config CORE.yaml] [--set KEY=VALUE]

Each input line is a JSON object {"question": str, "type"?: configuration|compatibility|context,
"frame"?: ego|world|object, "id"?: any} or a JSON string (the question); "-" reads standard input.
One line comes out per line in, in order: the answer text (with --json: {"line", "id", "question",
"type", "frame", "relation", "answer", "points_2d", "points_3d", ...}), or for a line that cannot be
answered `error: <reason>` (with --json: {"line", "id", "question", "error"}). A bad line does not stop
the others; the exit code is 0 when every line was answered, 1 otherwise (2: the scene or the file
itself is bad). The scene is loaded and prepared once and every question shares it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.scene import Scene, load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView

TYPES = ("configuration", "compatibility", "context")
FRAMES = ("ego", "world", "object")


@dataclass
class LineResult:
    """The outcome of one input line."""

    line: int  # 1-based
    text: str  # what is printed
    ok: bool


class BatchAsker:
    """Answers questions about one scene; the scene is prepared once (projections, grids, supports)."""

    def __init__(self, scene: Scene, config: SpatialConfig):
        self.scene = scene
        self.reasoner = GeometricReasoner(config)
        self.view = SceneView(scene, config).prepare()

    def answer_line(self, number: int, line: str, as_json: bool) -> LineResult:
        """One input line answered (or its error), formatted for output."""
        ident: Any = None
        question = ""
        try:
            question, kind, frame, ident = _request(line)
            query = parse_question(question, self.scene.names, kind, frame)
            answer = self.reasoner.answer(self.view, query)
        except RoboSpatialError as exc:
            reason = " ".join(str(exc).split())
            if as_json:
                return LineResult(
                    number, _dumps({"line": number, "id": ident, "question": question, "error": reason}), False
                )
            return LineResult(number, f"error: {reason}", False)
        if as_json:
            return LineResult(
                number, _dumps({"line": number, "id": ident, "question": question, **answer.to_dict()}), True
            )
        return LineResult(number, answer.text, True)

    def answer_lines(self, lines: Iterable[str], as_json: bool) -> Iterator[LineResult]:
        for number, line in enumerate(lines, 1):
            yield self.answer_line(number, line.rstrip("\n"), as_json)


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)


def _request(line: str) -> tuple[str, str | None, str | None, Any]:
    """(question, type or None, frame or None, id) of one input line; ConfigError when malformed."""
    if not line.strip():
        raise ConfigError("empty line")
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON ({exc.msg})") from None
    except RecursionError:  # JSON nested thousands deep: this line fails, the batch goes on
        raise ConfigError("JSON nested too deeply") from None
    if isinstance(entry, str):
        entry = {"question": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"expected a JSON object or string, got {type(entry).__name__}")
    question = entry.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("needs a non-empty string 'question'")
    kind, frame = entry.get("type"), entry.get("frame")
    if kind is not None and kind not in TYPES:
        raise ConfigError(f"type must be one of {', '.join(TYPES)}, got {kind!r}")
    if frame is not None and frame not in FRAMES:
        raise ConfigError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    return question, kind, frame, entry.get("id")


def run_questions(
    scene_path: str | Path, questions: str | Path, config: SpatialConfig, as_json: bool, out: IO[str] | None = None
) -> int:
    """Answer every line of `questions` ("-": standard input) about the scene; print one line per line.

    0 when every line was answered, 1 when some were not (their lines say why). A missing scene or
    questions file raises a RoboSpatialError (the CLI prints it, exit 2)."""
    out = out or sys.stdout
    asker = BatchAsker(load_scene(scene_path), config)
    failed = 0
    with _open_lines(questions) as lines:
        for result in asker.answer_lines(lines, as_json):
            out.write(result.text + "\n")
            failed += not result.ok
    out.flush()
    return 1 if failed else 0


class _open_lines:
    """The lines of a file, or of standard input for "-"; ConfigError when the file cannot be read."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.handle: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.path == "-":
            return sys.stdin
        try:
            self.handle = open(self.path, encoding="utf-8")  # closed in __exit__
        except OSError as exc:
            raise ConfigError(f"cannot read questions file {self.path}: {exc.strerror}") from None
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m robospatial_ros.cli.ask --scene S --questions F [--json]` (what `robospatial ask
    --questions` runs)."""
    from robospatial_ros.cli.overrides import load_with_overrides

    parser = argparse.ArgumentParser(prog="robospatial ask", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", required=True, help="scene JSON in the RoboSpatial annotation shape")
    parser.add_argument("--questions", required=True, metavar="FILE.jsonl", help="one question a line; - = stdin")
    parser.add_argument("--json", action="store_true", help="print each answer as JSON")
    parser.add_argument("--config", help="YAML of spatial core settings (SpatialConfig keys)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    args = parser.parse_args(argv)
    try:
        config = load_with_overrides(SpatialConfig, args.config, args.set)
        return run_questions(args.scene, args.questions, config, args.json)
    except (RoboSpatialError, OSError) as exc:
        print(f"robospatial ask: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
