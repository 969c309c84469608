"""Classification training throughput on CPU: images/s per model and the data-loading share.

    python bench/bench_classify.py [--steps 6] [--batch-size 32] [--img-size 224] [--augment]

For each model (the report's ConvNet, ResNet-18) and DataLoader worker count (0, 2) it runs
``--steps`` timed training steps (after one warm-up step) of train_classify's pipeline: JPEG
decode + Resize + flip + Normalize (FolderDataset; ``--augment``: the report's augmentations),
label-smoothed cross-entropy, Adam. The data time of a step is the wait for the next batch; the
compute time is forward, backward and the optimiser step. Images are synthetic 320 x 320 JPEGs
(``cvcore.synth.classify``), about the size of the Russian Wildlife photos.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvcore.classification.data import FolderDataset, build_transforms, stratified_split  # noqa: E402
from cvcore.classification.losses import label_smoothed_cross_entropy  # noqa: E402
from cvcore.classification.models import build_classifier  # noqa: E402
from cvcore.synth.classify import make_classify  # noqa: E402
from cvcore.training.distributed import Dist, make_loader  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work"


def time_training(model_name: str, dataset, workers: int, batch_size: int, steps: int,
                  img_size: int) -> dict:
    """Mean data and compute seconds per step over ``steps`` steps after one warm-up step."""
    torch.manual_seed(0)
    loader = make_loader(dataset, batch_size, workers, Dist(), train=True)
    model = build_classifier(model_name, 10, img_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    data_s = compute_s = 0.0
    batches = iter(loader)
    for step in range(steps + 1):
        t0 = time.perf_counter()
        x, y = next(batches)
        t1 = time.perf_counter()
        loss = label_smoothed_cross_entropy(model(x), y, 0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        t2 = time.perf_counter()
        if step:  # step 0 warms up (worker start, allocator, first-call overheads)
            data_s += t1 - t0
            compute_s += t2 - t1
    del batches
    total = data_s + compute_s
    return {"images_per_s": steps * batch_size / total, "data_share": data_s / total,
            "step_s": total / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--models", nargs="+", default=["convnet", "resnet18"])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2])
    parser.add_argument("--augment", action="store_true", help="the report's augmentations")
    args = parser.parse_args()
    data = WORK / "wildlife320"
    if not (data / "people").is_dir():
        make_classify(data, seed=0, per_class=(args.steps + 2) * args.batch_size // 8 + 1,
                      size=320)
    split = stratified_split(data, 0.2, seed=0)
    dataset = FolderDataset(split.train, build_transforms(args.img_size, True, args.augment))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch "
          f"{args.batch_size}, {args.img_size} px, {args.steps} timed steps, "
          f"{len(dataset)} training images, augmentation {'on' if args.augment else 'off'}")
    print(f"| {'model':<9} | {'workers':>7} | {'images/s':>8} | {'s/step':>6} | "
          f"{'data share':>10} |")
    print(f"|{'-' * 11}|{'-' * 8}:|{'-' * 9}:|{'-' * 7}:|{'-' * 11}:|")
    for model_name in args.models:
        for workers in args.workers:
            r = time_training(model_name, dataset, workers, args.batch_size, args.steps,
                              args.img_size)
            print(f"| {model_name:<9} | {workers:>7} | {r['images_per_s']:8.1f} | "
                  f"{r['step_s']:6.2f} | {100 * r['data_share']:9.1f}% |", flush=True)


if __name__ == "__main__":
    main()
