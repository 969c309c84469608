"""The command-line options every training script shares, declared once
(:func:`add_arguments`) and range-checked before anything is read or written
(:func:`validate_args`: ``error: --batch-size: must be >= 1, got 0``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import InputError
from .loggers import check_loggers

# The numeric options the training scripts share: attribute -> (lowest allowed value, whether
# that value itself is allowed, highest value or None, whether it is allowed). An option a script
# does not have, or leaves at None (e.g. --lr meaning "the model's default"), is not checked.
ARG_RANGES = {
    "epochs": (1, True, None, False),
    "batch_size": (1, True, None, False),
    "workers": (0, True, None, False),
    "threads": (0, True, None, False),
    "img_size": (1, True, None, False),
    "lr": (0, False, None, False),
    "weight_decay": (0, True, None, False),
    "label_smoothing": (0, True, 1, False),
    "val_frac": (0, False, 1, False),
    "save_period": (0, True, None, False),
    "limit": (1, True, None, False),
    "seed": (0, True, 2**32 - 1, True),  # NumPy's seed range
}


def add_arguments(parser: argparse.ArgumentParser, task: str, batch_size: int,
                  epochs: int = 10, workers: int = 2) -> None:
    """The options :func:`cvcore.training.loop.fit` reads: --batch-size, --workers, --epochs,
    --seed, --device, --threads, --out, --name, --resume, --wandb, --tensorboard. ``task``
    names the run folder ``runs/<task>/``; the defaults are each script's."""
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--workers", type=int, default=workers,
                        help="DataLoader worker processes (per process under torchrun)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--out", type=Path, help=f"run directory (default runs/{task}/<name>)")
    parser.add_argument("--name", default="exp")
    parser.add_argument("--resume", nargs="?", const=True, default=False,
                        help="continue a run: the given checkpoint, else --out's last.pt, else "
                        f"the newest runs/{task}/*/last.pt")
    parser.add_argument("--wandb", action="store_true", help="log to Weights & Biases (offline "
                        "unless WANDB_MODE says otherwise; needs the wandb package)")
    parser.add_argument("--tensorboard", action="store_true",
                        help="log to <run>/tensorboard (needs the tensorboard package)")


def validate_args(args) -> None:
    """Refuse out-of-range numeric options (see ``ARG_RANGES``) and optional loggers whose
    package is missing, before anything is read or written: ``--batch-size: must be >= 1, got
    0`` as an InputError (``error: --batch-size: ...``, exit 2 under ``run_cli``)."""
    for name, (low, low_ok, high, high_ok) in ARG_RANGES.items():
        value = getattr(args, name, None)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is None or isinstance(v, bool):
                continue
            flag = "--" + name.replace("_", "-")
            if not math.isfinite(v):
                raise InputError(f"must be a finite number, got {v}", flag)
            if v < low or (v == low and not low_ok):
                raise InputError(f"must be {'>=' if low_ok else '>'} {low}, got {v}", flag)
            if high is not None and (v > high or (v == high and not high_ok)):
                raise InputError(f"must be {'<=' if high_ok else '<'} {high}, got {v}", flag)
    check_loggers(args)
