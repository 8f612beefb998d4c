"""robospatial bench vlm: latency of one VLM query, split into prompt build / generate / parse / lift.

The model is a local checkpoint (`--model DIR`) or a random-init Qwen2.5-VL of a named size
(`--size tiny|3b`, built offline from a config with the real Qwen vocabulary; 3b is
Qwen2.5-VL-3B's shape). Random weights ramble, so parse and lift are timed on a reply of
the benchmark's answer format ("[(x, y), ...]", 10 points) when the model's own reply does
not parse; the table says which. Target: <= 300 ms per query for a 3B-sized model on 640x480
inputs on an H100.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from robospatial_ros.core.language.parsing import ParseError, PointConvention, parse_points
from robospatial_ros.core.reasoning.vlm.hf import HFConfig, HFVLMClient
from robospatial_ros.core.reasoning.vlm.lifting import lift_for_reference
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.core.tables import format_table

QUESTION = (
    "In the image, there is the bowl. Pinpoint several points within the vacant space situated left of the "
    "bowl from the camera's perspective. Your final answer should be formatted as a list of tuples, i.e. "
    "[(x1, y1), ...], where each tuple contains the x and y coordinates of a point satisfying the conditions "
    "above. The coordinates should be between 0 and 1, indicating the normalized pixel locations of the "
    "points."
)
CANNED_REPLY = "[" + ", ".join(f"({0.30 + 0.01 * i:.3f}, {0.60 + 0.005 * i:.3f})" for i in range(10)) + "]"
TARGET_MS = 300.0


def _tabletop_view(width: int, height: int) -> SceneView:
    from robospatial_ros.core.camera import CameraModel
    from robospatial_ros.core.resources import DEFAULT_SCENE
    from robospatial_ros.core.scene import Scene, load_scene

    scene = load_scene(DEFAULT_SCENE)
    cam = scene.camera
    K = cam.K.copy()
    K[0] *= width / cam.width
    K[1] *= height / cam.height
    resized = CameraModel(K, width, height, cam.camera_to_world)
    return SceneView(Scene(scene.objects, resized, scene.base_to_world), SpatialConfig()).prepare()


def _model_dir(args: argparse.Namespace, scratch: Path) -> Path:
    if args.model:
        return Path(args.model)
    from robospatial_ros.core.reasoning.vlm.qwen import save_random_qwen_vl

    print(f"building a random-init {args.size} Qwen2.5-VL ...", flush=True)
    return save_random_qwen_vl(scratch / args.size, args.size, max_pixels=args.width * args.height)


def _ms(seconds: list[float]) -> str:
    return f"{1e3 * statistics.median(seconds):.1f}" if seconds else "-"


def run(args: argparse.Namespace) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(0)
    view = _tabletop_view(args.width, args.height)
    bowl = view.scene.get("bowl")
    with tempfile.TemporaryDirectory() as scratch:
        config = HFConfig(
            model_path=str(_model_dir(args, Path(scratch))),
            dtype=args.dtype,
            device=args.device,
            max_pixels=args.width * args.height,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
        )
        client = HFVLMClient(config)
        images = [(rng.random((args.height, args.width, 3)) * 255).astype(np.uint8) for _ in range(args.batch_size)]
        client.generate(images, [QUESTION] * args.batch_size)  # warm-up (kernels, caches)
        prompt, generate, decode, parse, lift, tokens, own = [], [], [], [], [], [], True
        for _ in range(args.repeats):
            replies = client.generate(images, [QUESTION] * args.batch_size)
            prompt.append(client.timings.prompt_s / args.batch_size)
            generate.append(client.timings.generate_s / args.batch_size)
            decode.append(client.timings.decode_s / args.batch_size)
            tokens += client.timings.new_tokens
            t0 = time.perf_counter()
            try:
                pts = parse_points(replies[0], PointConvention.NORMALIZED)
            except ParseError:
                own, pts = False, parse_points(CANNED_REPLY, PointConvention.NORMALIZED)
            t1 = time.perf_counter()
            lift_for_reference(pts, view, bowl)
            parse.append(t1 - t0)
            lift.append(time.perf_counter() - t1)
    total = [sum(parts) for parts in zip(prompt, generate, decode, parse, lift)]
    source = "model reply" if own else "canned reply (model's did not parse)"
    import torch

    on_target_setup = args.size == "3b" and not args.model and torch.cuda.is_available()
    verdict = ("ok" if 1e3 * statistics.median(total) <= TARGET_MS else "MISS") if on_target_setup else "n/a here"
    return [
        ("prompt build (template + image + tokens)", _ms(prompt), ""),
        (f"generate ({statistics.median(tokens):.0f} new tokens)", _ms(generate), ""),
        ("decode (token ids -> text)", _ms(decode), ""),
        (f"parse ({source})", _ms(parse), ""),
        ("lift to the support plane", _ms(lift), ""),
        ("total per query", _ms(total), f"<= {TARGET_MS:g} on an H100 (3b): {verdict}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench vlm", description=__doc__)
    parser.add_argument("--model", help="a local model directory (default: random-init --size)")
    parser.add_argument("--size", default="tiny", choices=["tiny", "3b"], help="random-init model shape")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=1, help="questions per generate() call")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args(argv)
    rows = run(args)
    import torch

    where = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "CPU"
    print(
        f"\nVLM query latency, {args.width}x{args.height}, batch {args.batch_size}, "
        f"{args.model or args.size + ' random-init'}, {where} (median of {args.repeats}, per query)"
    )
    print(format_table([("stage", "ms", "target"), *rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
