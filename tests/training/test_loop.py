"""cvcore.engine on a tiny per-pixel task (label maps with an ignore index): fit, checkpoints,
bit-identical resume, best selection, eval sharding, run directories, optional loggers."""

import argparse
import csv
import math
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from cvcore.confusion import confusion_matrix
from cvcore.errors import InputError
from cvcore.training import loop as engine

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


def setup(run_dir, epochs=3, **fit_kwargs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(K, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, K, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    d = engine.Dist()
    loaders = [engine.make_loader(pixel_data(seed=s), 8, 0, d, train=t)
               for s, t in ((0, True), (1, False))]
    cfg = engine.Fit(
        loss_fn=lambda logits, y: torch.nn.functional.cross_entropy(logits, y,
                                                                   ignore_index=IGNORE),
        optimizer=optimizer, scheduler=scheduler, epochs=epochs, num_classes=K,
        run_dir=run_dir, args={"lr": 0.02, "note": "tiny"}, model_name="tiny",
        ignore_index=IGNORE, epoch_metrics=lambda cm: {"val_pixels": int(cm.sum())},
        train_metrics=lambda cm: {"train_pixels": int(cm.sum())}, **fit_kwargs)
    return model, loaders, cfg, d


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_writes_results_and_loadable_checkpoints(tmp_path):
    model, (train, val), cfg, d = setup(tmp_path, save_period=2)
    best = engine.fit(model, train, val, cfg, d)
    rows = read_rows(tmp_path / "results.csv")
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "train_pixels", "val_loss",
                             "val_acc", "val_pixels", "lr"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # every non-ignored pixel is counted once per epoch (train drops no batch: 24 = 3 x 8)
    labels = [ds.tensors[1] for ds in (train.dataset, val.dataset)]
    assert {r["train_pixels"] for r in rows} == {str(int((labels[0] != IGNORE).sum()))}
    assert {r["val_pixels"] for r in rows} == {str(int((labels[1] != IGNORE).sum()))}
    assert float(rows[-1]["val_acc"]) > float(rows[0]["val_acc"])  # it learns
    assert best == pytest.approx(max(float(r["val_acc"]) for r in rows), abs=1e-6)
    for name in ("last.pt", "best.pt", "epoch2.pt"):
        ckpt = torch.load(tmp_path / name, weights_only=True)
        assert ckpt["args"] == {"lr": 0.02, "note": "tiny"} and ckpt["model_name"] == "tiny"
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 3
    assert not (tmp_path / "epoch1.pt").exists() and not (tmp_path / "epoch3.pt").exists()


def test_evaluate_accuracy_is_the_confusion_trace(tmp_path):
    model, (_, val), cfg, d = setup(tmp_path)
    stats, cm = engine.evaluate(model, val, cfg.loss_fn, d, K, IGNORE)
    x, y = val.dataset.tensors
    with torch.no_grad():
        pred = model(x).argmax(1)
    expected = confusion_matrix(y.numpy(), pred.numpy(), K, IGNORE)
    assert (cm == expected).all()
    assert stats["acc"] == pytest.approx(np.trace(expected) / expected.sum(), abs=1e-15)
    # the epoch loss is the sample-weighted mean of the batch losses (batches of 8, 8, 8)
    with torch.no_grad():
        ref = np.mean([cfg.loss_fn(model(x[i:i + 8]), y[i:i + 8]).item() for i in (0, 8, 16)])
    assert stats["loss"] == pytest.approx(ref, rel=1e-12)


def test_resume_continues_bit_identically(tmp_path):
    model, (train, val), cfg, d = setup(tmp_path / "straight")
    engine.fit(model, train, val, cfg, d)
    straight = {k: v.clone() for k, v in model.state_dict().items()}

    model, (train, val), cfg, d = setup(tmp_path / "cut", epochs=1)
    engine.fit(model, train, val, cfg, d)
    model, (train, val), cfg, d = setup(tmp_path / "cut")
    torch.manual_seed(123)  # a different RNG state: resume must restore the saved one
    start, best = engine.resume(tmp_path / "cut" / "last.pt", model, cfg.optimizer,
                                cfg.scheduler, None, "tiny")
    assert start == 1
    engine.fit(model, train, val, cfg, d, start, best)
    for key, value in model.state_dict().items():
        assert torch.equal(value, straight[key]), key
    assert read_rows(tmp_path / "cut" / "results.csv") == read_rows(
        tmp_path / "straight" / "results.csv")


def test_best_mode_min_keeps_the_lowest_loss(tmp_path):
    model, (train, val), cfg, d = setup(tmp_path, epochs=4, best_key="val_loss",
                                        best_mode="min")
    best = engine.fit(model, train, val, cfg, d, best=math.inf)
    losses = [float(r["val_loss"]) for r in read_rows(tmp_path / "results.csv")]
    assert best == pytest.approx(min(losses), rel=1e-5)
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == 1 + int(
        np.argmin(losses))


def test_checkpoint_errors_are_one_line(tmp_path):
    model, (train, val), cfg, d = setup(tmp_path, epochs=1)
    engine.fit(model, train, val, cfg, d)
    with pytest.raises(InputError, match="checkpoint is for model 'tiny', not 'other'"):
        engine.load_checkpoint(tmp_path / "last.pt", "other")
    torch.save({"weights": 1}, tmp_path / "plain.pt")
    with pytest.raises(InputError, match="not a cvcore training checkpoint"):
        engine.load_checkpoint(tmp_path / "plain.pt", "tiny")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        engine.load_checkpoint(tmp_path / "junk.pt", "tiny")
    bigger = torch.nn.Conv2d(K, 9, 1)
    with pytest.raises(InputError, match="weights do not fit"):
        engine.resume(tmp_path / "last.pt", bigger, torch.optim.SGD(bigger.parameters(), 0.1),
                      model_name="tiny")


def test_shard_sampler_covers_each_sample_once():
    for length in (0, 1, 7, 20, 21):
        for world in (1, 2, 3):
            shards = [list(engine.ShardSampler(length, r, world)) for r in range(world)]
            assert sorted(sum(shards, [])) == list(range(length))
            assert [len(s) for s in shards] == [len(range(r, length, world))
                                                for r in range(world)]


def test_resolve_run_dir_new_and_bare_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(name="exp", out=None, resume=False, lr=0.1)
    d = engine.Dist()
    first, resume_from = engine.resolve_run_dir("tiny", args, d)
    second, _ = engine.resolve_run_dir("tiny", args, d)
    assert resume_from is None and (first.name, second.name) == ("exp", "exp2")
    assert "lr: 0.1" in (first / "args.yaml").read_text()
    args.resume = True
    with pytest.raises(InputError, match="nothing to resume"):
        engine.resolve_run_dir("tiny", args, d)
    for run in (second, first):  # first written last: the newest
        model, (train, val), cfg, _ = setup(run, epochs=1)
        engine.fit(model, train, val, cfg, d)
    assert engine.resolve_run_dir("tiny", args, d) == (first, first / "last.pt")
    args.out = second
    assert engine.resolve_run_dir("tiny", args, d) == (second, second / "last.pt")
    assert engine.resolve_run_dir("tiny", args, engine.Dist(rank=1, world_size=2)) == (
        None, second / "last.pt")


@pytest.mark.parametrize("flag, module, package", [("wandb", "wandb", "wandb"),
                                                   ("tensorboard", "torch.utils.tensorboard",
                                                    "tensorboard")])
def test_missing_optional_logger_is_a_clear_error(tmp_path, monkeypatch, flag, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    args = argparse.Namespace(wandb=flag == "wandb", tensorboard=flag == "tensorboard")
    with pytest.raises(InputError, match=f"--{flag} needs the {package} package"):
        engine.make_loggers(args, tmp_path, "cvcore-test")
    assert engine.make_loggers(args, None, "cvcore-test") == ()  # ranks other than 0: none


def test_rng_state_round_trips_through_weights_only(tmp_path):
    engine.seed_everything(5)
    state = engine.rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.random(3), __import__("random").random())  # noqa: NPY002
    engine.seed_everything(6)
    engine.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.random(3), __import__("random").random())  # noqa: NPY002
    assert torch.equal(expected[0], again[0]) and (expected[1] == again[1]).all()
    assert expected[2] == again[2]


def test_device_choice():
    assert engine.init_distributed("cpu").device == torch.device("cpu")
    with pytest.raises(InputError, match="unknown --device 'gpu'"):
        engine.init_distributed("gpu")
    if not torch.cuda.is_available():
        assert engine.init_distributed("auto").device == torch.device("cpu")
        with pytest.raises(InputError, match="CUDA is not available"):
            engine.init_distributed("cuda:0")


def test_validate_args_one_line_per_option():
    ok = argparse.Namespace(epochs=1, batch_size=1, workers=0, lr=None, val_frac=0.5,
                            img_size=[480, 360], label_smoothing=0.0, wandb=False)
    engine.validate_args(ok)
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
            engine.validate_args(bad)
        assert str(err.value) == message


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
    engine.save_checkpoint(tmp_path / "last.pt", model, optimizer, scheduler, None, 1, 0.5,
                           {}, "lin")
    model, optimizer, scheduler = onecycle(8)
    assert engine.resume(tmp_path / "last.pt", model, optimizer, scheduler,
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
        engine.resume(tmp_path / "last.pt", model, optimizer, scheduler, model_name="lin")


def test_fit_restores_rows_a_kill_kept_out_of_results_csv(tmp_path):
    """Killed after last.pt (epoch 2) but before results.csv claimed epoch 2: the resume puts
    the row back from last.pt; rows beyond the checkpoint are dropped; args.yaml is rewritten
    with the resumed run's arguments."""
    model, (train, val), cfg, d = setup(tmp_path, epochs=2)
    engine.fit(model, train, val, cfg, d)
    full = read_rows(tmp_path / "results.csv")
    (tmp_path / "results.csv").write_text("epoch,x\n1,2\n")  # stale, other columns
    model, (train, val), cfg, d = setup(tmp_path, epochs=3)
    cfg.args = {"lr": 0.02, "epochs": 3}
    start, best = engine.resume(tmp_path / "last.pt", model, cfg.optimizer, cfg.scheduler,
                                None, "tiny")
    assert start == 2
    engine.fit(model, train, val, cfg, d, start, best)
    rows = read_rows(tmp_path / "results.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and rows[:2] == full
    assert "epochs: 3" in (tmp_path / "args.yaml").read_text()
    with pytest.raises(InputError, match="--epochs: must be at least the 3 epochs"):
        engine.fit(model, train, val, setup(tmp_path, epochs=2)[2], d, 3, best)


def test_bare_resume_of_a_run_killed_before_its_first_checkpoint(tmp_path):
    args = argparse.Namespace(name="exp", out=tmp_path / "run", resume=True)
    with pytest.raises(InputError, match="nothing to resume"):
        engine.resume_checkpoint("tiny", args)  # not a run folder: a typo, not a restart
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "args.yaml").write_text("resume: false\n")
    assert engine.resume_checkpoint("tiny", args) is None
    assert engine.resolve_run_dir("tiny", args, engine.Dist()) == (tmp_path / "run", None)
    args.resume = str(tmp_path / "run")
    with pytest.raises(InputError, match="not a folder"):
        engine.resume_checkpoint("tiny", args)
