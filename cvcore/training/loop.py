"""The training loop shared by train_classify.py and train_segment.py: one call trains a run.

Plain PyTorch, task-agnostic: a model mapping ``x`` to logits ``[N, K, ...]``, a loss on
``(logits, target)``, and targets that are class indices ``[N, ...]`` (an image label or a
label map). A script says what differs in a :class:`Task` and calls two functions::

    with start(args, "segment", check_args) as s:   # Session: arguments, torchrun, seeds, and
        datasets, model = ...                        #   the --resume checkpoint, looked up once
        fitted = fit(s, Task(model, optimizer, loss_fn, num_classes, ...), train_set, val_set)
        # rank 0: fitted.run_dir, best.pt's weights back in the model; other ranks: None

The order, chosen so that a failed start writes nothing (no run directory; a refused
``--resume`` leaves the run, its ``split.json`` included, as it was):

1. :func:`start`: range checks (:mod:`.options`), the script's own checks, the ``--resume``
   checkpoint's location (:func:`.checkpoint.resume_checkpoint`: read only), ``--threads``,
   the torchrun process group and device (:class:`.distributed.Dist`), seeds.
2. The script reads and checks its data and builds its model (weights checked). Only reads.
   ``Session.resume_from`` is known by then because a script may have to read the resumed
   run's own inputs (train_classify.py: its ``split.json``).
3. :func:`fit`: loaders, the scheduler (sized in steps: ``len(train_loader)``), the AMP scaler;
   with ``--resume`` the checkpoint is restored into model, optimiser, scheduler, scaler and
   RNGs, which checks that it fits, and ``--epochs`` is checked against the epochs it has done.
4. Only now, every input valid, the first write: :func:`open_run_dir` (rank 0) creates the run
   directory (or continues the checkpoint's) and (re)writes ``args.yaml`` with the arguments
   the run continues with; ``Task.on_start(run_dir)`` writes the script's own inputs
   (``split.json``).
5. The epochs, the model wrapped in DDP under torchrun. Per epoch: train, evaluate (loss and a
   K x K confusion matrix of argmax predictions, summed over ranks), save ``epoch<N>.pt``
   (every ``--save-period`` epochs), ``best.pt`` (by ``Task.best_key``), ``last.pt``, and only
   then add the epoch's row to ``results.csv`` and the loggers. The loggers are closed in a
   ``finally``.
6. Rank 0: ``curves.png`` from ``results.csv``; ``best.pt``'s weights loaded into the model for
   the script's final evaluation.

A run killed at any instant resumes from the last saved epoch: ``results.csv`` rows of the
redone epochs are dropped and a row the kill kept out of the table comes back from ``last.pt``,
so the table stays continuous. A run killed before its first ``last.pt`` restarts from epoch 0
with ``--resume --out DIR``. The scheduler, if any, steps after every batch. AMP (float16
autocast + GradScaler) is used on CUDA. An epoch's loss is the sample-weighted mean of the batch
losses.

``results.csv`` columns: ``epoch, train_loss, train_acc, [train_metrics(cm)], val_loss,
val_acc, [val_metrics(cm)], lr`` (lr at the start of the epoch); accuracy is the trace of the
confusion matrix over its sum (pixel accuracy for label maps, ``ignore_index`` left out).
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..confusion import confusion_matrix
from ..errors import InputError
from ..runs import ResultsCSV, make_run_dir, save_args
from .checkpoint import load_weights, plain_args, resume, resume_checkpoint, save_checkpoint
from .distributed import (
    Dist,
    all_reduce,
    cleanup_distributed,
    init_distributed,
    make_loader,
    unwrap,
    wrap_ddp,
)
from .loggers import close_loggers, make_loggers
from .options import validate_args
from .weights import load_file


@dataclass
class Session:
    """One run's context from :func:`start` on; a context manager that leaves the torchrun
    process group on exit."""

    args: argparse.Namespace
    task: str                     # runs/<task>/, the wandb project cvcore-<task>
    d: Dist
    resume_from: Path | None      # the checkpoint --resume continues, None for a new run

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        cleanup_distributed(self.d)


def start(args: argparse.Namespace, task: str,
          check: Callable[[argparse.Namespace], None] | None = None) -> Session:
    """What a training script does first (step 1 of the module docstring): the shared ranges
    (:func:`.options.validate_args`), then ``check(args)`` (the script's own rules), the
    ``--resume`` checkpoint, CPU threads (``--threads``, 0 keeps torch's default), the process
    group under torchrun and the device, and the seeds. Reads nothing but the checkpoint's
    location; writes nothing."""
    validate_args(args)
    if check is not None:
        check(args)
    resume_from = resume_checkpoint(task, args)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    d = init_distributed(args.device)
    seed_everything(args.seed)
    return Session(args, task, d, resume_from)


def seed_everything(seed: int) -> None:
    """Seed the generators training uses (torch: init, shuffling, transforms; Python; NumPy)."""
    random.seed(seed)
    # The legacy global NumPy generator: third-party transforms (albumentations, ...) draw from it.
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


def amp_scaler(d: Dist):
    """A GradScaler on CUDA (float16 autocast in training), None on CPU (no AMP)."""
    return torch.amp.GradScaler("cuda") if d.device.type == "cuda" else None


def open_run_dir(s: Session) -> Path | None:
    """Rank 0: the run directory with ``args.yaml`` written (None on other ranks). Resuming
    continues in the checkpoint's folder; a new run gets a fresh ``runs/<task>/<name>N`` (or
    ``--out``). Call it once every input is checked: it is the run's first write."""
    if not s.d.is_main:
        return None
    if s.resume_from is not None:
        run_dir = s.resume_from.parent
    else:
        if getattr(s.args, "resume", False):
            print(f"{s.args.out} has no checkpoint yet (stopped in its first epoch): starting it "
                  "again from epoch 0")
        run_dir = make_run_dir(s.task, getattr(s.args, "name", "exp"),
                               getattr(s.args, "out", None))
    save_args(run_dir, s.args)
    return run_dir


@dataclass
class EpochResult:
    """One pass over a loader, summed over ranks."""

    loss: float              # sample-weighted mean of the batch losses
    acc: float               # trace of ``confusion`` over its sum
    confusion: np.ndarray    # int64 [K, K], rows truth, columns argmax prediction


def _one_pass(model, loader, loss_fn, d: Dist, num_classes: int, ignore_index: int, desc: str,
              amp: bool, update: Callable[[torch.Tensor], None] | None = None) -> EpochResult:
    """Forward every batch of ``loader`` (``update(loss)`` after each: the optimiser step)."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    loss_sum = np.zeros(2)  # (sum of batch losses * batch size, samples)
    bar = tqdm(loader, desc=desc, disable=not d.is_main, leave=False)
    for x, y in bar:
        x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
        with torch.autocast(d.device.type, dtype=torch.float16, enabled=amp):
            logits = model(x)
            loss = loss_fn(logits, y)
        if update is not None:
            update(loss)
        loss_sum += (loss.item() * len(x), len(x))
        pred = logits.detach().argmax(1).cpu().numpy()
        confusion_matrix(y.cpu().numpy(), pred, num_classes, ignore_index, cm)
        bar.set_postfix(loss=f"{loss_sum[0] / loss_sum[1]:.4f}",
                        acc=f"{np.trace(cm) / max(cm.sum(), 1):.4f}")
    loss_sum, cm = all_reduce(loss_sum, d), all_reduce(cm, d)
    return EpochResult(loss_sum[0] / max(loss_sum[1], 1), np.trace(cm) / max(cm.sum(), 1), cm)


def train_one_epoch(model, loader, loss_fn, optimizer, d: Dist, num_classes: int,
                    scheduler=None, scaler=None, ignore_index: int = -100,
                    desc: str = "Train") -> EpochResult:
    """One training pass over ``loader``; ``scheduler`` (if given) steps every batch
    (OneCycleLR); ``scaler``: AMP (:func:`amp_scaler`). Numbers are of the batches as trained
    (the model changing along the way)."""
    def update(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()

    model.train()
    return _one_pass(model, loader, loss_fn, d, num_classes, ignore_index, desc,
                     scaler is not None, update)


@torch.no_grad()
def evaluate(model, loader, loss_fn, d: Dist, num_classes: int, ignore_index: int = -100,
             desc: str = "Val") -> EpochResult:
    """Loss, accuracy and confusion matrix over ``loader`` in eval mode, summed over ranks. A
    DDP model is evaluated unwrapped: ranks may hold different numbers of batches
    (ShardSampler)."""
    model = unwrap(model)
    model.eval()
    return _one_pass(model, loader, loss_fn, d, num_classes, ignore_index, desc,
                     d.device.type == "cuda")


@dataclass
class Task:
    """What a training script brings to :func:`fit`; everything else comes from the
    arguments (``--epochs``, ``--batch-size``, ``--workers``, ``--seed``, ``--model`` (stored
    in checkpoints and checked on resume), ``--save-period``, ``--wandb``, ``--tensorboard``)."""

    model: torch.nn.Module        # on the session's device, pretrained weights loaded
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, target) -> mean
    num_classes: int
    # (optimizer, batches per epoch) -> a scheduler stepped every batch, or None
    scheduler: Callable[[torch.optim.Optimizer, int], Any] | None = None
    best_key: str = "val_acc"     # column of results.csv that selects best.pt
    best_mode: str = "max"        # "max": higher best_key is better; "min": lower (a loss)
    ignore_index: int = -100      # target value left out of loss and confusion
    train_metrics: Callable[[np.ndarray], dict] | None = None  # train confusion -> columns
    val_metrics: Callable[[np.ndarray], dict] | None = None    # val confusion -> columns
    on_start: Callable[[Path], None] | None = None  # rank 0, the run directory just opened


@dataclass
class Fitted:
    """What :func:`fit` leaves rank 0 (other ranks get None)."""

    run_dir: Path
    best: float                   # best value of Task.best_key
    best_epoch: int               # the epoch best.pt holds (now the model's weights)
    start_epoch: int              # epochs done before this call (a resumed checkpoint's)


@dataclass
class _Training:
    """What :func:`fit` prepares before the first epoch."""

    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    scheduler: Any
    scaler: Any
    start_epoch: int
    best: float
    run_dir: Path | None          # None on ranks other than 0


def fit(s: Session, task: Task, train_set, val_set) -> Fitted | None:
    """Train ``task.model`` on ``train_set`` from scratch or from ``s.resume_from`` to
    ``--epochs``, evaluating on ``val_set`` each epoch: steps 3 to 6 of the module docstring."""
    t = _prepare(s, task, train_set, val_set)
    loggers = make_loggers(s.args, t.run_dir, f"cvcore-{s.task}", plain_args(s.args))
    try:
        best = _epochs(s, task, wrap_ddp(task.model, s.d), t, loggers)
    finally:
        close_loggers(loggers)
    if t.run_dir is None:
        return None
    from .. import plots  # matplotlib: only once training is done

    plots.plot_results_csv(t.run_dir / "results.csv", t.run_dir / "curves.png")
    ckpt = load_weights(task.model, t.run_dir / "best.pt", s.args.model)
    return Fitted(t.run_dir, best, int(ckpt["epoch"]), t.start_epoch)


def _prepare(s: Session, task: Task, train_set, val_set) -> _Training:
    """Steps 3 and 4: loaders, scheduler, scaler, the resumed checkpoint restored and checked,
    then (the first write) the run directory and ``Task.on_start``."""
    args, d = s.args, s.d
    if task.best_mode not in ("max", "min"):
        raise ValueError(f"best_mode must be 'max' or 'min', not {task.best_mode!r}")
    train_loader = make_loader(train_set, args.batch_size, args.workers, d, train=True,
                               seed=args.seed)
    val_loader = make_loader(val_set, args.batch_size, args.workers, d, train=False)
    scheduler = task.scheduler(task.optimizer, len(train_loader)) if task.scheduler else None
    scaler = amp_scaler(d)
    start_epoch, best = 0, -math.inf if task.best_mode == "max" else math.inf
    if s.resume_from is not None:
        start_epoch, best = resume(s.resume_from, task.model, task.optimizer, scheduler, scaler,
                                   args.model)
        if start_epoch > args.epochs:
            raise InputError(f"must be at least the {start_epoch} epochs the resumed checkpoint "
                             f"has done, got {args.epochs}", "--epochs")
        if d.is_main:
            print(f"resuming {s.resume_from} after epoch {start_epoch}")
    run_dir = open_run_dir(s)
    if run_dir is not None and task.on_start is not None:
        task.on_start(run_dir)
    return _Training(train_loader, val_loader, scheduler, scaler, start_epoch, best, run_dir)


def _epochs(s: Session, task: Task, model, t: _Training, loggers: tuple) -> float:
    """Epochs ``start_epoch + 1 .. --epochs`` (step 5) of ``model`` (DDP-wrapped under
    torchrun); returns the best value so far. Per epoch ``epoch<N>.pt``, ``best.pt``, then
    ``last.pt`` (the resume point), and only then the ``results.csv`` row: a kill at any instant
    leaves a ``last.pt`` that is never behind the table, and the rows it is ahead by come back
    from it on resume."""
    args, d, run_dir, best = s.args, s.d, t.run_dir, t.best
    sign = 1.0 if task.best_mode == "max" else -1.0
    csv = _results_table(run_dir, t.start_epoch) if run_dir is not None else None
    save_period = getattr(args, "save_period", 0) or 0
    for epoch in range(t.start_epoch, args.epochs):
        if hasattr(t.train_loader.sampler, "set_epoch"):  # DistributedSampler: a new shuffle
            t.train_loader.sampler.set_epoch(epoch)
        lr = task.optimizer.param_groups[0]["lr"]
        tag = f"Epoch {epoch + 1}/{args.epochs}"
        train = train_one_epoch(model, t.train_loader, task.loss_fn, task.optimizer, d,
                                task.num_classes, t.scheduler, t.scaler, task.ignore_index,
                                f"{tag} [Train]")
        val = evaluate(model, t.val_loader, task.loss_fn, d, task.num_classes,
                       task.ignore_index, f"{tag} [Val]")
        row = {"epoch": epoch + 1, "train_loss": train.loss, "train_acc": train.acc,
               **(task.train_metrics(train.confusion) if task.train_metrics else {}),
               "val_loss": val.loss, "val_acc": val.acc,
               **(task.val_metrics(val.confusion) if task.val_metrics else {}), "lr": lr}
        if run_dir is None:
            continue
        print(f"[{tag}] Train Loss: {train.loss:.4f}, Train Acc: {train.acc:.4f} | "
              f"Val Loss: {val.loss:.4f}, Val Acc: {val.acc:.4f}")
        csv.add(row)
        value = float(row[task.best_key])
        is_best = not math.isnan(value) and sign * value > sign * best
        best = value if is_best else best
        state = (model, task.optimizer, t.scheduler, t.scaler, epoch + 1, best,
                 plain_args(args), args.model, csv.snapshot())
        if save_period and (epoch + 1) % save_period == 0:
            save_checkpoint(run_dir / f"epoch{epoch + 1}.pt", *state)
        if is_best:
            save_checkpoint(run_dir / "best.pt", *state)
        save_checkpoint(run_dir / "last.pt", *state)  # the resume point, before the table
        csv.flush()
        for logger in loggers:
            logger.log(row)
    return best


def _results_table(run_dir: Path, start_epoch: int) -> ResultsCSV:
    """``results.csv`` holding exactly epochs 1..start_epoch: rows of epochs being redone are
    dropped; rows missing because a kill fell between ``last.pt`` and the table (or because the
    table was lost) come back from ``last.pt`` when it is the checkpoint of ``start_epoch``."""
    csv = ResultsCSV(run_dir / "results.csv")
    csv.truncate(start_epoch)
    if csv.keys() != list(range(1, start_epoch + 1)):
        last = run_dir / "last.pt"
        ckpt = load_file(last, "checkpoint") if last.is_file() else None
        saved = ckpt.get("results") if isinstance(ckpt, dict) else None
        if saved and ckpt.get("epoch") == start_epoch:
            csv.restore(saved)
            csv.truncate(start_epoch)
        if csv.keys() != list(range(1, start_epoch + 1)):
            print(f"warning: {csv.path} misses rows of epochs 1..{start_epoch}; they cannot be "
                  "recovered")
    return csv
