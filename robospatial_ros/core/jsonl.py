"""Reading JSONL files (one JSON value per line) with errors that name the file and the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robospatial_ros.core.errors import RoboSpatialError


def read_jsonl(path: str | Path, error: type[RoboSpatialError], what: str = "file") -> Iterator[tuple[str, Any]]:
    """(where, value) for every non-blank line, `where` being "PATH line N" for the caller's own errors.

    A missing, unreadable or non-UTF-8 file, or a line that is not JSON, raises `error` saying which
    `what` ("predictions file", "data file") and which line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise error(f"{what} path is a directory, not a file: {path}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where} is not valid JSON: {exc.msg}") from None
