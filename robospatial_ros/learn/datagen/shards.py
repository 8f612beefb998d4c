"""Parallel generation: a run cut into shards, each written by one worker, merged by a manifest.

    OUT/shards/NNNNN/images/ ...   each shard's images (and masks, depth) and scenes/, as a worker wrote them
    OUT/qwen-00000.jsonl ...       the shards' records in shard order (ids "NNNNN-MMMMMMM", paths from OUT)
    OUT/llava-*.jsonl, OUT/annotations.json, OUT/hf/, OUT/manifest.json   as `writers` describes

A job (e.g. `RoboSpatialJob`) lists its work units in output order, each with an upper bound on its
items; consecutive units are packed into shards of about `shard_items` items. The shards depend on
the job alone, never on how many workers run them, so the output is identical for any worker count:
`workers=1` runs them one after another in this process, `workers=N` in N local processes, and
`executor="ray"` as one Ray task per shard (across machines when OUT and the inputs lie on storage every
node sees). A shard is done when its `shard.json` exists; a run that fails keeps the finished shards
and the same command resumes from them (OUT/shards/plan.json records what the run was).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.learn.datagen.records import Sample
from robospatial_ros.learn.datagen.writers import (
    ANNOTATIONS,
    HF_DIR,
    MANIFEST,
    JsonlShards,
    Prefixes,
    WriterError,
    WriteSummary,
    check_formats,
    check_shard_size,
    existing_output,
    write_hf,
    write_manifest,
    write_samples,
)

SHARDS_DIR = "shards"
PLAN = "plan.json"
DONE = "shard.json"
EXECUTORS = ("local", "ray")
_ONE_FILE = 1 << 62  # a shard's own JSONL in one file (re-chunked by the merge)


class Unit(Protocol):
    estimate: int  # at most this many items


class ShardJob(Protocol):
    """What a generator hands the runner (picklable: it travels to the workers)."""

    shard_items: int

    def units(self) -> Sequence[Unit]:
        """The run's work units in output order."""
        ...

    def samples(self, units: Sequence[Unit]) -> Iterator[Sample]:
        """The samples of some consecutive units, in order."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """JSON-serializable: what makes the run's output (inputs, seed, config), to resume only the same run."""
        ...


@dataclass(frozen=True)
class RunOptions:
    """How to run a sharded job and what to write."""

    out_dir: Path
    formats: tuple[str, ...] = ("hf", "qwen", "llava", "eval")
    shard_size: int = 1000  # JSONL lines per merged file
    workers: int = 1  # local processes (executor local)
    executor: str = "local"  # local | ray
    ray_address: str = ""  # "" = the running Ray instance, else start a local one; "auto" = join a cluster
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "formats", check_formats(self.formats))
        check_shard_size(self.shard_size)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be a positive integer, got {self.workers!r}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")


@dataclass
class ShardResult:
    """What one worker wrote (its shard.json)."""

    index: int
    count: int
    images: int
    counts: dict[str, dict[str, int]]
    files: dict[str, list[str]] = field(default_factory=dict)  # format -> files, relative to the shard dir


def pack(units: Sequence[Unit], shard_items: int) -> list[list[int]]:
    """Consecutive unit indices grouped into shards of at most `shard_items` estimated items (a unit
    larger than that alone)."""
    shards: list[list[int]] = []
    total = 0
    for i, unit in enumerate(units):
        if shards and total + unit.estimate <= shard_items:
            shards[-1].append(i)
            total += unit.estimate
        else:
            shards.append([i])
            total = unit.estimate
    return shards


def shard_name(index: int) -> str:
    return f"{index:05d}"


def run_sharded(job: ShardJob, options: RunOptions, info: dict[str, Any] | None = None) -> WriteSummary:
    """Generate `job` shard by shard (resuming a failed run of the same job), then merge; see the module
    docstring. `info` goes into the manifest as is (it must not depend on the worker count)."""
    out = options.out_dir
    units = list(job.units())
    plan = pack(units, job.shard_items)
    fingerprint = _fingerprint(job, options, len(plan))
    _prepare(out, fingerprint, options.overwrite)
    shards_dir = out / SHARDS_DIR
    done = {i: r for i in range(len(plan)) if (r := _finished(shards_dir / shard_name(i))) is not None}
    pending = [i for i in range(len(plan)) if i not in done]
    for i in pending:  # a shard a failed run left half-written starts over
        shutil.rmtree(shards_dir / shard_name(i), ignore_errors=True)
    tasks = [
        ShardTask(job, i, [units[u] for u in plan[i]], str(shards_dir / shard_name(i)), options.formats)
        for i in pending
    ]
    try:
        for result in _execute(tasks, options):
            done[result.index] = result
    except BaseException:
        print(
            f"{len(done)} of {len(plan)} shards are done in {shards_dir}; the same command resumes from them",
            file=sys.stderr,
        )
        raise
    return merge_shards(out, [done[i] for i in range(len(plan))], options, dict(info or {}))


def _fingerprint(job: ShardJob, options: RunOptions, shards: int) -> str:
    what = {"job": job.fingerprint(), "shards": shards, "formats": list(options.formats)}
    return hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode(), usedforsecurity=False).hexdigest()


def _prepare(out: Path, fingerprint: str, overwrite: bool) -> None:
    """Refuse or clear earlier output; keep a failed run's shards when it was this same run."""
    if out.exists() and not out.is_dir():
        raise WriterError(f"output path exists and is not a directory: {out}")
    plan_file = out / SHARDS_DIR / PLAN
    same_run = plan_file.is_file() and _read_json(plan_file).get("fingerprint") == fingerprint
    finished = (out / MANIFEST).is_file()
    if overwrite or (same_run and not finished):
        keep_shards = same_run and not overwrite and not finished
        for path in existing_output(out):
            if keep_shards and path.name == SHARDS_DIR:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    elif existing_output(out):
        first = existing_output(out)[0].name
        why = "a different run's unfinished shards" if plan_file.is_file() and not finished else "generated data"
        raise WriterError(f"{out} already holds {why} ({first}, ...); use overwrite / --overwrite")
    (out / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _finished(shard_dir: Path) -> ShardResult | None:
    data = _read_json(shard_dir / DONE)
    return ShardResult(**data) if data else None


# --- running shards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardTask:
    """One shard to write: picklable, run by `write_shard` in whichever process gets it."""

    job: ShardJob
    index: int
    units: list[Any]
    shard_dir: str
    formats: tuple[str, ...]


def write_shard(task: ShardTask) -> ShardResult:
    """Write one shard's samples into its directory (records prefixed to name files from OUT), then its
    shard.json; on failure the directory is removed."""
    shard_dir = Path(task.shard_dir)
    name = shard_name(task.index)
    # qwen feeds the merged hf/ too; hf itself is built once, from the merged records.
    wanted = set(task.formats) | ({"qwen"} if "hf" in task.formats else set())
    formats = tuple(f for f in ("qwen", "llava", "eval") if f in wanted)
    prefixes = Prefixes(ids=f"{name}-", paths=f"{SHARDS_DIR}/{name}/")
    try:
        summary = write_samples(
            task.job.samples(task.units), shard_dir, _ONE_FILE, formats, False, overwrite=True, prefixes=prefixes
        )
        (shard_dir / MANIFEST).unlink(missing_ok=True)
        result = ShardResult(task.index, summary.count, summary.images, summary.counts, summary.shards)
        (shard_dir / DONE).write_text(json.dumps(result.__dict__) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(shard_dir, ignore_errors=True)
        raise
    return result


def _execute(tasks: list[ShardTask], options: RunOptions) -> Iterator[ShardResult]:
    """Run the tasks (in any order), yielding each result as it is done; the first failure is raised."""
    if not tasks:
        return iter(())
    if options.executor == "ray":
        return _execute_ray(tasks, options)
    if options.workers == 1:
        return (write_shard(t) for t in _bar(tasks, options.progress))
    return _execute_processes(tasks, options)


def _bar(items: list[ShardTask], progress: bool) -> Any:
    from robospatial_ros.learn.datagen.episodes import progress_bar

    return progress_bar(items, "shards", "shard", progress)


def _execute_processes(tasks: list[ShardTask], options: RunOptions) -> Iterator[ShardResult]:
    import multiprocessing

    # spawn: workers start clean (no inherited threads or OpenGL contexts), importing what they need.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(options.workers, len(tasks)), mp_context=context) as pool:
        futures = {pool.submit(write_shard, t) for t in tasks}
        bar = _counter(len(tasks), options.progress)
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_EXCEPTION)
                for future in finished:
                    yield future.result()  # raises the worker's exception
                    bar(1)
        finally:
            for future in futures:
                future.cancel()
            bar(0, close=True)


def _counter(total: int, progress: bool) -> Callable[..., None]:
    if not progress:
        return lambda n, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="shards", unit="shard")

    def step(n: int, close: bool = False) -> None:
        bar.update(n)
        if close:
            bar.close()

    return step


def _execute_ray(tasks: list[ShardTask], options: RunOptions) -> Iterator[ShardResult]:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor ray needs the ray package: pip install 'robospatial_ros[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=options.ray_address or None, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(write_shard)
    pending = [remote.remote(t) for t in tasks]
    bar = _counter(len(tasks), options.progress)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                yield ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:  # the worker's own exception, as raised there
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, BaseException) else exc) from None
            bar(1)
    finally:
        for ref in pending:
            ray.cancel(ref)
        bar(0, close=True)


# --- merging -------------------------------------------------------------------------------------


def merge_shards(out: Path, results: list[ShardResult], options: RunOptions, info: dict[str, Any]) -> WriteSummary:
    """Join the shards' records into OUT's JSONL, annotations.json, hf/ and manifest (see the module docstring)."""
    formats = options.formats
    shard_dirs = [out / SHARDS_DIR / shard_name(r.index) for r in results]
    qwen_dir = out if "qwen" in formats else Path(tempfile.mkdtemp(prefix=".qwen-", dir=out))
    summary = WriteSummary(out, sum(r.count for r in results), sum(r.images for r in results), _sum_counts(results))
    summary.formats = formats
    qwen = _concat(shard_dirs, results, "qwen", qwen_dir, options.shard_size) if {"qwen", "hf"} & set(formats) else []
    if "qwen" in formats:
        summary.shards["qwen"] = qwen
    if "llava" in formats:
        summary.shards["llava"] = _concat(shard_dirs, results, "llava", out, options.shard_size)
    if "eval" in formats:
        _merge_annotations(shard_dirs, results, out / ANNOTATIONS)
        summary.shards["eval"] = [ANNOTATIONS]
    if "hf" in formats:
        summary.shards["hf"] = [HF_DIR]
        write_hf(out, qwen, qwen_dir, options.progress)
    elif qwen_dir != out:
        shutil.rmtree(qwen_dir, ignore_errors=True)
    write_manifest(out, summary, {**info, "work_shards": [f"{SHARDS_DIR}/{shard_name(r.index)}" for r in results]})
    for shard_dir, result in zip(shard_dirs, results):  # their records now live in OUT's files
        for name in [f for files in result.files.values() for f in files]:
            (shard_dir / name).unlink(missing_ok=True)
    (out / SHARDS_DIR / PLAN).unlink(missing_ok=True)
    return summary


def _sum_counts(results: list[ShardResult]) -> dict[str, dict[str, int]]:
    total: dict[str, Counter[str]] = {"kind": Counter(), "task": Counter(), "frame": Counter()}
    for r in results:
        for key, values in r.counts.items():
            total.setdefault(key, Counter()).update(values)
    return {k: dict(sorted(c.items())) for k, c in total.items()}


def _concat(shard_dirs: list[Path], results: list[ShardResult], fmt: str, folder: Path, size: int) -> list[str]:
    chunks = JsonlShards(folder, fmt, size)
    try:
        for shard_dir, result in zip(shard_dirs, results):
            for name in result.files.get(fmt, []):
                with open(shard_dir / name, encoding="utf-8") as handle:
                    for line in handle:
                        chunks.write(line.rstrip("\n"))
    finally:
        chunks.close()
    return chunks.files


def _merge_annotations(shard_dirs: list[Path], results: list[ShardResult], path: Path) -> None:
    """One JSON list of every shard's records, as the writer writes one ("[", a record a line, "]"): the
    shards' lists joined as text, no record parsed again."""
    first = True
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[")
        for shard_dir, result in zip(shard_dirs, results):
            if not result.count:
                continue
            text = (shard_dir / ANNOTATIONS).read_text(encoding="utf-8").strip()
            if not (text.startswith("[\n") and text.endswith("\n]")):
                raise WriterError(f"{shard_dir / ANNOTATIONS} is not a list the writer wrote")
            handle.write(("\n" if first else ",\n") + text[2:-2])
            first = False
        handle.write("]\n" if first else "\n]\n")
