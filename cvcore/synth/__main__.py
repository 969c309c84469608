"""``python -m cvcore.synth {classify,camvid,coco,coco-keypoints,mot} OUT [--seed S] [options]``."""

from __future__ import annotations

import argparse
import time

from ..errors import InputError, run_cli
from ..runs import check_output_path
from .camvid import make_camvid
from .classify import make_classify
from .coco import make_coco
from .keypoints import make_coco_keypoints
from .mot import make_mot


def parse_args(argv=None, prog: str = "python -m cvcore.synth") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("kind", choices=["classify", "camvid", "coco", "coco-keypoints", "mot"])
    parser.add_argument("out", help="output directory (created)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=80, help="classify: images per class")
    parser.add_argument("--img-size", type=int, default=96, help="classify: square image side")
    parser.add_argument("--size", type=int, nargs=2, default=(160, 120), metavar=("W", "H"),
                        help="camvid: image size (960 720 for CamVid's full resolution)")
    parser.add_argument("--num-images", type=int, default=60,
                        help="coco, coco-keypoints: number of images")
    parser.add_argument("--no-images", action="store_true",
                        help="coco/mot: write annotations only (benchmarks)")
    parser.add_argument("--frames", type=int, default=60, help="mot: frames per sequence")
    parser.add_argument("--pan", type=float, default=0.0,
                        help="mot: film with a swaying camera of this peak speed (px/frame)")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """One-line errors for arguments no generator can honour, before anything is written."""
    check_output_path(args.out, folder=True)
    sizes = {"classify": {"--per-class": args.per_class, "--img-size": args.img_size},
             "camvid": {"--size": min(args.size)}, "coco": {"--num-images": args.num_images},
             "coco-keypoints": {"--num-images": args.num_images},
             "mot": {"--frames": args.frames}}[args.kind]
    if not 0 <= args.pan <= 100:
        raise InputError(f"--pan must be in 0..100 px/frame, got {args.pan}")
    minimum = {"--img-size": 16, "--size": 16}
    for name, value in sizes.items():
        if value < minimum.get(name, 1):
            raise InputError(f"{name} must be at least {minimum.get(name, 1)}, got {value}")


def main(args: argparse.Namespace) -> None:
    check_args(args)
    start = time.perf_counter()
    if args.kind == "classify":
        out = make_classify(args.out, args.seed, per_class=args.per_class, size=args.img_size)
    elif args.kind == "camvid":
        out = make_camvid(args.out, args.seed, size=tuple(args.size))
    elif args.kind == "coco":
        out = make_coco(args.out, args.seed, num_images=args.num_images,
                        write_images=not args.no_images)
    elif args.kind == "coco-keypoints":
        out = make_coco_keypoints(args.out, args.seed, num_images=args.num_images)
    else:
        out = make_mot(args.out, args.seed, frames=args.frames, write_images=not args.no_images,
                       pan=args.pan)
    print(f"synthetic {args.kind} data (seed {args.seed}) in {out} "
          f"({time.perf_counter() - start:.1f} s)")


def cli(argv=None, prog: str = "python -m cvcore.synth") -> None:
    """The command line: ``python -m cvcore.synth`` and ``cvcore synth``."""
    run_cli(lambda: main(parse_args(argv, prog)))


if __name__ == "__main__":
    cli()
