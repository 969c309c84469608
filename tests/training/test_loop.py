"""cvcore.training on a tiny per-pixel task (label maps with an ignore index): fit, checkpoints,
bit-identical resume, best selection, eval sharding, run directories, optional loggers."""

import argparse
import copy
import csv
import sys
import types

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import TensorDataset

from cvcore.confusion import confusion_matrix
from cvcore.errors import InputError
from cvcore.training import checkpoint, distributed, loggers, loop, options
from cvcore.training.checkpoint import plain_args

torch.set_num_threads(1)
IGNORE = 255
K = 4


def pixel_data(n=24, seed=0):
    """Images whose per-pixel class is the argmax of the first K channels, some pixels ignored."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, K, 6, 5, generator=g)
    y = x.argmax(1)
    y[torch.rand(n, 6, 5, generator=g) < 0.1] = IGNORE
    return TensorDataset(x, y)


def loss_fn(logits, y):
    return torch.nn.functional.cross_entropy(logits, y, ignore_index=IGNORE)


def tiny_args(out, epochs=3, **extra):
    return argparse.Namespace(**{
        "model": "tiny", "epochs": epochs, "batch_size": 8, "workers": 0, "seed": 0,
        "device": "cpu", "threads": 0, "out": out, "name": "exp", "resume": False,
        "save_period": 0, "note": "tiny", **extra})


def setup(args, **task_kwargs):
    """(session, task, train set, val set): ``start`` as a script calls it, then a 2-layer
    conv net with Adam and a StepLR stepped every batch."""
    s = loop.start(args, "tiny")
    model = torch.nn.Sequential(torch.nn.Conv2d(K, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, K, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    task = loop.Task(model, optimizer, loss_fn, K, **{
        "scheduler": lambda opt, steps: torch.optim.lr_scheduler.StepLR(opt, step_size=5,
                                                                        gamma=0.5),
        "ignore_index": IGNORE, "val_metrics": lambda cm: {"val_pixels": int(cm.sum())},
        "train_metrics": lambda cm: {"train_pixels": int(cm.sum())}, **task_kwargs})
    return s, task, pixel_data(seed=0), pixel_data(seed=1)


def run(args, **task_kwargs):
    return loop.fit(*setup(args, **task_kwargs))


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_writes_results_and_loadable_checkpoints(tmp_path):
    args = tiny_args(tmp_path, save_period=2)
    s, task, train, val = setup(args)
    fitted = loop.fit(s, task, train, val)
    rows = read_rows(tmp_path / "results.csv")
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "train_pixels", "val_loss",
                             "val_acc", "val_pixels", "lr"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # every non-ignored pixel is counted once per epoch (train drops no batch: 24 = 3 x 8)
    assert {r["train_pixels"] for r in rows} == {str(int((train.tensors[1] != IGNORE).sum()))}
    assert {r["val_pixels"] for r in rows} == {str(int((val.tensors[1] != IGNORE).sum()))}
    assert float(rows[-1]["val_acc"]) > float(rows[0]["val_acc"])  # it learns
    accs = [float(r["val_acc"]) for r in rows]
    assert fitted.best == pytest.approx(max(accs), abs=1e-6)
    assert (fitted.run_dir, fitted.best_epoch, fitted.start_epoch) == (
        tmp_path, 1 + int(np.argmax(accs)), 0)
    for name in ("last.pt", "best.pt", "epoch2.pt"):
        ckpt = torch.load(tmp_path / name, weights_only=True)
        assert ckpt["args"] == plain_args(args) and ckpt["model_name"] == "tiny"
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 3
    assert not (tmp_path / "epoch1.pt").exists() and not (tmp_path / "epoch3.pt").exists()
    assert yaml.safe_load((tmp_path / "args.yaml").read_text())["note"] == "tiny"
    assert (tmp_path / "curves.png").stat().st_size > 0
    best = torch.load(tmp_path / "best.pt", weights_only=True)["model"]
    for key, value in task.model.state_dict().items():  # fit leaves best.pt's weights
        assert torch.equal(value, best[key]), key


def test_train_and_evaluate_return_loss_accuracy_and_confusion(tmp_path):
    s, task, train, val = setup(tiny_args(tmp_path))
    loader = distributed.make_loader(val, 8, 0, s.d, train=False)
    result = loop.evaluate(task.model, loader, loss_fn, s.d, K, IGNORE)
    x, y = val.tensors
    with torch.no_grad():
        pred = task.model(x).argmax(1)
    expected = confusion_matrix(y.numpy(), pred.numpy(), K, IGNORE)
    assert (result.confusion == expected).all()
    assert result.acc == pytest.approx(np.trace(expected) / expected.sum(), abs=1e-15)
    # the epoch loss is the sample-weighted mean of the batch losses (batches of 8, 8, 8)
    with torch.no_grad():
        ref = np.mean([loss_fn(task.model(x[i:i + 8]), y[i:i + 8]).item() for i in (0, 8, 16)])
    assert result.loss == pytest.approx(ref, rel=1e-12)
    # a training pass over the same batches (in order) returns the same kind of result: the
    # mean of the losses as each batch was trained, and the model after Adam's three steps
    model = copy.deepcopy(task.model)
    adam = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for i in (0, 8, 16):
        loss = loss_fn(model(x[i:i + 8]), y[i:i + 8])
        adam.zero_grad()
        loss.backward()
        adam.step()
        losses.append(loss.item())
    trained = loop.train_one_epoch(task.model, loader, loss_fn, task.optimizer, s.d, K,
                                   ignore_index=IGNORE)
    assert type(trained) is loop.EpochResult and trained.confusion.sum() == expected.sum()
    assert trained.loss == pytest.approx(np.mean(losses), rel=1e-12)
    for key, value in model.state_dict().items():
        assert torch.equal(value, task.model.state_dict()[key]), key


def test_resume_continues_bit_identically(tmp_path):
    run(tiny_args(tmp_path / "straight"))
    run(tiny_args(tmp_path / "cut", epochs=1))
    s, task, train, val = setup(tiny_args(tmp_path / "cut", resume=True))
    assert s.resume_from == tmp_path / "cut" / "last.pt"
    torch.manual_seed(123)  # a different RNG state: resume must restore the saved one
    assert loop.fit(s, task, train, val).start_epoch == 1
    straight, cut = (torch.load(tmp_path / run / "last.pt", weights_only=True)["model"]
                     for run in ("straight", "cut"))
    for key, value in cut.items():
        assert torch.equal(value, straight[key]), key
    assert read_rows(tmp_path / "cut" / "results.csv") == read_rows(
        tmp_path / "straight" / "results.csv")


def test_best_mode_min_keeps_the_lowest_loss(tmp_path):
    fitted = run(tiny_args(tmp_path, epochs=4), best_key="val_loss", best_mode="min")
    losses = [float(r["val_loss"]) for r in read_rows(tmp_path / "results.csv")]
    assert fitted.best == pytest.approx(min(losses), rel=1e-5)
    assert fitted.best_epoch == torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == (
        1 + int(np.argmin(losses)))


def test_checkpoint_errors_are_one_line(tmp_path):
    run(tiny_args(tmp_path, epochs=1))
    with pytest.raises(InputError, match="checkpoint is for model 'tiny', not 'other'"):
        checkpoint.load_checkpoint(tmp_path / "last.pt", "other")
    torch.save({"weights": 1}, tmp_path / "plain.pt")
    with pytest.raises(InputError, match="not a cvcore training checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "plain.pt", "tiny")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "junk.pt", "tiny")
    bigger = torch.nn.Conv2d(K, 9, 1)
    with pytest.raises(InputError, match="weights do not fit"):
        checkpoint.resume(tmp_path / "last.pt", bigger,
                          torch.optim.SGD(bigger.parameters(), 0.1), model_name="tiny")


def test_shard_sampler_covers_each_sample_once():
    for length in (0, 1, 7, 20, 21):
        for world in (1, 2, 3):
            shards = [list(distributed.ShardSampler(length, r, world)) for r in range(world)]
            assert sorted(sum(shards, [])) == list(range(length))
            assert [len(s) for s in shards] == [len(range(r, length, world))
                                                for r in range(world)]


def session(args, d=None):
    return loop.Session(args, "tiny", d or distributed.Dist(),
                        checkpoint.resume_checkpoint("tiny", args))


def test_open_run_dir_new_and_bare_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(name="exp", out=None, resume=False, lr=0.1)
    first, second = loop.open_run_dir(session(args)), loop.open_run_dir(session(args))
    assert (first.name, second.name) == ("exp", "exp2")
    assert "lr: 0.1" in (first / "args.yaml").read_text()
    args.resume = True
    with pytest.raises(InputError, match="nothing to resume"):
        session(args)
    for out in (second, first):  # first written last: the newest
        run(tiny_args(out, epochs=1))
    assert session(args).resume_from == first / "last.pt"
    assert loop.open_run_dir(session(args)) == first
    args.out = second
    assert loop.open_run_dir(session(args)) == second
    other_rank = session(args, distributed.Dist(rank=1, world_size=2))
    assert other_rank.resume_from == second / "last.pt" and loop.open_run_dir(other_rank) is None


@pytest.mark.parametrize("flag, module, package", [("wandb", "wandb", "wandb"),
                                                   ("tensorboard", "torch.utils.tensorboard",
                                                    "tensorboard")])
def test_missing_optional_logger_is_a_clear_error(tmp_path, monkeypatch, flag, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    args = argparse.Namespace(wandb=flag == "wandb", tensorboard=flag == "tensorboard")
    with pytest.raises(InputError, match=f"--{flag} needs the {package} package"):
        options.validate_args(args)
    with pytest.raises(InputError, match=f"--{flag} needs the {package} package"):
        loggers.make_loggers(args, tmp_path, "cvcore-test", {})
    assert loggers.make_loggers(args, None, "cvcore-test", {}) == ()  # other ranks: none


def test_loggers_are_closed_when_an_epoch_fails(tmp_path, monkeypatch):
    closed = []

    class SummaryWriter:
        def __init__(self, log_dir):
            pass

        def close(self):
            closed.append(True)

    def val_metrics(cm):
        raise RuntimeError("boom")

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard",
                        types.SimpleNamespace(SummaryWriter=SummaryWriter))
    with pytest.raises(RuntimeError, match="boom"):
        run(tiny_args(tmp_path, tensorboard=True), val_metrics=val_metrics)
    assert closed == [True]


def test_rng_state_round_trips_through_weights_only(tmp_path):
    loop.seed_everything(5)
    state = checkpoint.rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.random(3), __import__("random").random())  # noqa: NPY002
    loop.seed_everything(6)
    checkpoint.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.random(3), __import__("random").random())  # noqa: NPY002
    assert torch.equal(expected[0], again[0]) and (expected[1] == again[1]).all()
    assert expected[2] == again[2]


def test_device_choice():
    assert distributed.init_distributed("cpu").device == torch.device("cpu")
    with pytest.raises(InputError, match="unknown --device 'gpu'"):
        distributed.init_distributed("gpu")
    if not torch.cuda.is_available():
        assert distributed.init_distributed("auto").device == torch.device("cpu")
        with pytest.raises(InputError, match="CUDA is not available"):
            distributed.init_distributed("cuda:0")


def test_validate_args_one_line_per_option():
    ok = argparse.Namespace(epochs=1, batch_size=1, workers=0, lr=None, val_frac=0.5,
                            img_size=[480, 360], label_smoothing=0.0, wandb=False)
    options.validate_args(ok)
    for name, value, message in [
            ("epochs", 0, "--epochs: must be >= 1, got 0"),
            ("batch_size", 0, "--batch-size: must be >= 1, got 0"),
            ("workers", -1, "--workers: must be >= 0, got -1"),
            ("lr", 0.0, "--lr: must be > 0, got 0.0"),
            ("lr", float("inf"), "--lr: must be a finite number, got inf"),
            ("val_frac", 1.0, "--val-frac: must be < 1, got 1.0"),
            ("img_size", [480, 0], "--img-size: must be >= 1, got 0"),
            ("label_smoothing", 1.0, "--label-smoothing: must be < 1, got 1.0"),
            ("seed", -1, "--seed: must be >= 0, got -1")]:
        bad = argparse.Namespace(**{**vars(ok), name: value})
        with pytest.raises(InputError) as err:
            options.validate_args(bad)
        assert str(err.value) == message


def test_shared_options_are_declared_once():
    parser = argparse.ArgumentParser()
    options.add_arguments(parser, "tiny", batch_size=3)
    args = parser.parse_args([])
    assert (args.batch_size, args.workers, args.epochs, args.seed, args.device) == (
        3, 2, 10, 0, "auto")
    assert (args.out, args.name, args.resume) == (None, "exp", False)
    assert parser.parse_args(["--resume"]).resume is True
    assert "runs/tiny/*/last.pt" in parser.format_help()


def test_onecycle_resume_with_more_steps_continues_the_count(tmp_path):
    """A OneCycleLR checkpoint restored into a schedule sized for more steps keeps the new size
    and the old step count; restored into a smaller one it is refused."""
    def onecycle(total):
        model = torch.nn.Linear(2, 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        return model, optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.1,
                                                                     total_steps=total)

    model, optimizer, scheduler = onecycle(4)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    checkpoint.save_checkpoint(tmp_path / "last.pt", model, optimizer, scheduler, None, 1, 0.5,
                               {}, "lin")
    model, optimizer, scheduler = onecycle(8)
    assert checkpoint.resume(tmp_path / "last.pt", model, optimizer, scheduler,
                             model_name="lin") == (1, 0.5)
    assert (scheduler.last_epoch, scheduler.total_steps) == (4, 8)
    _, ref_optimizer, reference = onecycle(8)
    for _ in range(4):
        ref_optimizer.step()
        reference.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(ref_optimizer.param_groups[0]["lr"])
    for _ in range(4):  # the 8-step cycle runs to its end: no "Tried to step" error
        optimizer.step()
        scheduler.step()
    model, optimizer, scheduler = onecycle(3)
    with pytest.raises(InputError, match="has done 4 steps, more than the 3"):
        checkpoint.resume(tmp_path / "last.pt", model, optimizer, scheduler, model_name="lin")


def test_fit_restores_rows_a_kill_kept_out_of_results_csv(tmp_path):
    """Killed after last.pt (epoch 2) but before results.csv claimed epoch 2: the resume puts
    the row back from last.pt; rows beyond the checkpoint are dropped; args.yaml is rewritten
    with the resumed run's arguments. A resume with fewer --epochs than done writes nothing."""
    run(tiny_args(tmp_path, epochs=2))
    full = read_rows(tmp_path / "results.csv")
    (tmp_path / "results.csv").write_text("epoch,x\n1,2\n")  # stale, other columns
    assert run(tiny_args(tmp_path, resume=True)).start_epoch == 2
    rows = read_rows(tmp_path / "results.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and rows[:2] == full
    assert yaml.safe_load((tmp_path / "args.yaml").read_text())["epochs"] == 3
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(InputError, match="--epochs: must be at least the 3 epochs"):
        run(tiny_args(tmp_path, epochs=2, resume=True))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_bare_resume_of_a_run_killed_before_its_first_checkpoint(tmp_path):
    args = argparse.Namespace(name="exp", out=tmp_path / "run", resume=True)
    with pytest.raises(InputError, match="nothing to resume"):
        checkpoint.resume_checkpoint("tiny", args)  # not a run folder: a typo, not a restart
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "args.yaml").write_text("resume: false\n")
    assert checkpoint.resume_checkpoint("tiny", args) is None
    assert loop.open_run_dir(session(args)) == tmp_path / "run"
    args.resume = str(tmp_path / "run")
    with pytest.raises(InputError, match="not a folder"):
        checkpoint.resume_checkpoint("tiny", args)
