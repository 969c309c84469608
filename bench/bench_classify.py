"""Classification training throughput on CPU at 224x224: images/s for both models and the share
of step time spent waiting for data, with 0 and 2 DataLoader workers.

    python bench/bench_classify.py [--steps 8] [--batch-size 32]

Uses synthetic wildlife images (written once to bench/_work/wildlife224) and the same dataset,
transforms, loss and optimiser as train_classify.py.
"""

from __future__ import annotations

import argparse
import time

import torch
from _timing import WORK
from torch.utils.data import DataLoader

from cvcore.classify_models import build_classifier
from cvcore.folderdata import FolderDataset, build_transforms, stratified_split
from cvcore.losses import label_smoothed_cross_entropy
from cvcore.synth.classify import make_classify


def measure(model_name: str, loader, steps: int) -> tuple[float, float]:
    """(training images/s, fraction of wall time spent waiting for the next batch)."""
    model = build_classifier(model_name, 10, 224)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    wait = compute = 0.0
    images = 0
    it = iter(loader)
    next(it)  # start the workers before timing
    for _ in range(steps):
        t0 = time.perf_counter()
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        t1 = time.perf_counter()
        loss = label_smoothed_cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        t2 = time.perf_counter()
        wait, compute, images = wait + t1 - t0, compute + t2 - t1, images + len(x)
    return images / (wait + compute), wait / (wait + compute)


def main(args: argparse.Namespace) -> None:
    data = WORK / "wildlife224"
    if not data.exists():
        make_classify(data, seed=0, per_class=40, size=256)
    split = stratified_split(data, 0.2, 0)
    dataset = FolderDataset(split.train, build_transforms(224, True, True))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}"
          f", {args.steps} steps, augmentation on")
    print("| model | workers | train images/s | data-wait share of step time |")
    print("|---|---:|---:|---:|")
    for model_name in ("convnet", "resnet18"):
        for workers in (0, 2):
            loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                num_workers=workers, drop_last=True,
                                persistent_workers=workers > 0)
            rate, share = measure(model_name, loader, args.steps)
            print(f"| {model_name} | {workers} | {rate:.1f} | {share:.0%} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    main(parser.parse_args())
