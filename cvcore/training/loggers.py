"""Optional experiment loggers (``--wandb``, ``--tensorboard``): each gets every
``results.csv`` row as it is written. Neither package is a dependency: a missing one is refused
at start (:func:`check_loggers`), before the run directory exists."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..errors import InputError

# flag -> (module to import, package to install)
PACKAGES = {"wandb": ("wandb", "wandb"), "tensorboard": ("torch.utils.tensorboard", "tensorboard")}


def _import(flag: str):
    module, package = PACKAGES[flag]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"--{flag} needs the {package} package (pip install {package})") \
            from None


class WandbLogger:
    """Weights & Biases; offline (no network) unless WANDB_MODE says otherwise."""

    def __init__(self, run_dir: Path, project: str, config: dict):
        wandb = _import("wandb")
        os.environ.setdefault("WANDB_MODE", "offline")
        self.run = wandb.init(project=project, name=run_dir.name, dir=str(run_dir), config=config)

    def log(self, row: dict) -> None:
        self.run.log(row)

    def close(self) -> None:
        self.run.finish()


class TensorBoardLogger:
    """TensorBoard scalars in ``<run_dir>/tensorboard``, one step per epoch."""

    def __init__(self, run_dir: Path):
        self.writer = _import("tensorboard").SummaryWriter(str(run_dir / "tensorboard"))

    def log(self, row: dict) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def check_loggers(args) -> None:
    """The packages the ``--wandb`` / ``--tensorboard`` flags in ``args`` need are importable."""
    for flag in PACKAGES:
        if getattr(args, flag, False):
            _import(flag)


def make_loggers(args, run_dir: Path | None, project: str, config: dict) -> tuple:
    """The loggers ``args`` asks for, on rank 0 (``run_dir`` None elsewhere: none);
    ``config``: the run's arguments as wandb records them."""
    if run_dir is None:
        return ()
    loggers = []
    if getattr(args, "wandb", False):
        loggers.append(WandbLogger(run_dir, project, config))
    if getattr(args, "tensorboard", False):
        loggers.append(TensorBoardLogger(run_dir))
    return tuple(loggers)


def close_loggers(loggers) -> None:
    for logger in loggers:
        logger.close()
