"""train_classify.py and its building blocks: data discovery, models, metrics vs scikit-learn,
outputs, kill-and-resume, DDP under torchrun."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import train_classify
from cvcore.classification.data import REPORT_CLASSES, find_classes, stratified_split
from cvcore.classification.models import ConvNet, build_classifier
from cvcore.confusion import confusion_matrix
from cvcore.errors import InputError
from cvcore.synth.classify import make_classify
from tests.conftest import REPO

torch.set_num_threads(1)
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def wildlife(tmp_path_factory):
    return make_classify(tmp_path_factory.mktemp("wild"), seed=0, per_class=12, size=40)


def small_args(data, out, *extra):
    return ["--data", str(data), "--model", "convnet", "--img-size", "32", "--epochs", "2",
            "--batch-size", "16", "--workers", "0", "--device", "cpu", "--threads", "1",
            "--out", str(out), *extra]


def assert_png(path, min_std=1.0):
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"), float)
    assert pixels.std() > min_std, f"{path.name} looks blank"


def test_convnet_is_the_reports():
    model = ConvNet(10, 224)
    assert model.fc.in_features == 128 * 14 * 14
    assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == (
        3 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 128 * 9 + 128 + 128 * 14 * 14 * 10 + 10)
    for size, side in ((64, 4), (100, 6), (16, 1)):  # the pools floor: 100 -> 25 -> 12 -> 6
        model = ConvNet(7, size)
        assert model.fc.in_features == 128 * side * side
        assert model(torch.zeros(1, 3, size, size)).shape == (1, 7)
    with pytest.raises(InputError, match="at least 16"):
        ConvNet(10, 15)


def test_training_run_writes_every_output(wildlife, tmp_path):
    run_dir = train_classify.main(train_classify.parse_args(small_args(wildlife, tmp_path)))
    for name in ("args.yaml", "split.json", "results.csv", "last.pt", "best.pt", "metrics.json",
                 "confusion_matrix.csv"):
        assert (run_dir / name).stat().st_size > 0, name
    for name in ("curves.png", "class_distribution.png", "confusion_matrix.png",
                 "misclassified.png", "tsne_2d.png", "tsne_3d.png", "augmentations.png"):
        assert_png(run_dir / name)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cm = np.array(metrics["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == len(json.loads(
        (run_dir / "split.json").read_text())["val"])
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert 0 <= metrics["ece"] <= 1 and len(metrics["per_class"]) == 10
    ckpt = torch.load(run_dir / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["args"]["model"] == "convnet"
    table = rows(run_dir / "results.csv")
    assert list(table[0]) == ["epoch", "train_loss", "train_acc", "train_macro_f1", "val_loss",
                              "val_acc", "val_macro_f1", "lr"]
    best = max(table, key=lambda r: float(r["val_acc"]))  # best.pt is re-evaluated at the end
    assert metrics["best_epoch"] == int(best["epoch"])
    assert metrics["accuracy"] == pytest.approx(float(best["val_acc"]), abs=1e-5)
    assert metrics["macro_f1"] == pytest.approx(float(best["val_macro_f1"]), abs=1e-5)


def test_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 6, 200)
        probs = rng.dirichlet(np.ones(6), 200)
        probs[np.arange(200), labels] += rng.random(200)  # better than chance
        probs /= probs.sum(1, keepdims=True)
        names = [f"c{k}" for k in range(6)]
        m = train_classify.class_metrics(probs, labels, names)
        pred = probs.argmax(1)
        assert m["accuracy"] == pytest.approx(accuracy_score(labels, pred), abs=1e-15)
        assert m["macro_f1"] == pytest.approx(f1_score(labels, pred, average="macro"), abs=1e-12)
        assert m["confusion_matrix"] == sk_confusion(labels, pred, labels=range(6)).tolist()
        p, r, f, s = precision_recall_fscore_support(labels, pred, labels=range(6),
                                                     zero_division=np.nan)
        ours = m["per_class"]
        np.testing.assert_allclose([c["precision"] for c in ours], p, atol=1e-12)
        np.testing.assert_allclose([c["f1"] for c in ours], f, atol=1e-12)


def test_class_discovery_nested_spaces_and_alphabetical(tmp_path):
    nested = tmp_path / "Cropped_final" / "Cropped_final"
    for name in REPORT_CLASSES:
        folder = nested / name.replace("_", " ")
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "a.jpg")
        (folder / "._a.jpg").write_bytes(b"macOS resource fork")
    (tmp_path / "__MACOSX" / "Cropped_final").mkdir(parents=True)  # archive debris
    root, names, folders = find_classes(tmp_path)
    assert root == nested and names == list(REPORT_CLASSES)  # the report's order
    assert folders[1] == nested / "amur tiger"
    assert stratified_split(tmp_path, 0.5).unreadable == []  # ._a.jpg is not an image
    other = tmp_path / "other"
    for name in ("zebra", "Ant", "moth"):
        (other / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(other / name / "x.png")
    assert find_classes(other)[1] == ["ant", "moth", "zebra"]


def test_split_is_stratified_and_skips_unreadable(wildlife, tmp_path):
    split = stratified_split(wildlife, 0.25, seed=3)
    val_counts = np.bincount([label for _, label in split.val], minlength=10)
    assert (val_counts == 3).all() and len(split.train) == 90
    broken = tmp_path / "data"
    for name in ("a", "b"):
        (broken / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8)).save(broken / name / f"{i}.jpg")
    (broken / "a" / "bad.jpg").write_bytes(b"not an image")
    # a truncated JPEG passes PIL's verify() but fails to decode: it must be caught up front
    noise = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(broken / "b" / "full.jpg")
    data = (broken / "b" / "full.jpg").read_bytes()
    (broken / "b" / "cut.jpg").write_bytes(data[:len(data) // 2])
    split = stratified_split(broken, 0.5, seed=0)
    assert split.unreadable == [str(broken / "a" / "bad.jpg"), str(broken / "b" / "cut.jpg")]
    assert len(split.train) == 4 and len(split.val) == 5


def test_confusion_matrix_with_ignore_index_equals_sklearn():
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(1)
    target = rng.integers(0, 7, (50, 40)).astype(np.uint8)
    pred = rng.integers(0, 7, (50, 40)).astype(np.uint8)
    target[rng.random((50, 40)) < 0.1] = 255
    keep = target != 255
    assert (confusion_matrix(target, pred, 7, ignore_index=255)
            == sk_confusion(target[keep], pred[keep], labels=range(7))).all()


def test_offline_pretrained_resnet_names_the_file(tmp_path, monkeypatch, wildlife):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    with pytest.raises(InputError, match=re.escape(expected)):
        build_classifier("resnet18", 10, 224, pretrained=True)
    args = train_classify.parse_args(small_args(wildlife, tmp_path / "run", "--pretrained"))
    args.model = "resnet18"
    with pytest.raises(InputError, match="pretrained weights not found"):
        train_classify.main(args)
    assert not (tmp_path / "run").exists()  # a failed start leaves no run directory
    weights = tmp_path / "r18.pth"
    from torchvision.models import resnet18
    torch.save(resnet18().state_dict(), weights)
    model = build_classifier("resnet18", 10, 224, pretrained=True, weights=str(weights))
    assert model.fc.out_features == 10
    source = torch.load(weights, weights_only=True)
    assert torch.equal(model.conv1.weight, source["conv1.weight"])  # backbone loaded
    # our own 10-class checkpoint loads whole, head included; --weights implies --pretrained
    torch.save({"model": model.state_dict(), "epoch": 1}, tmp_path / "ours.pt")
    again = build_classifier("resnet18", 10, 224, weights=str(tmp_path / "ours.pt"))
    assert torch.equal(again.fc.weight, model.fc.weight)
    torch.save(ConvNet(10, 32).state_dict(), tmp_path / "convnet.pt")
    with pytest.raises(InputError, match="weights do not fit ResNet"):
        build_classifier("resnet18", 10, 224, weights=str(tmp_path / "convnet.pt"))
    with pytest.raises(InputError, match="trained from scratch"):
        build_classifier("convnet", 10, 64, pretrained=True)


def test_resume_refuses_another_models_checkpoint(wildlife, tmp_path):
    run_dir = train_classify.main(train_classify.parse_args(
        small_args(wildlife, tmp_path, "--epochs", "1", "--no-tsne")))
    args = train_classify.parse_args(small_args(wildlife, run_dir, "--resume"))
    args.model = "resnet18"
    with pytest.raises(InputError, match="checkpoint is for model 'convnet'"):
        train_classify.main(args)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sigkill_mid_epoch_then_resume(tmp_path):
    data = make_classify(tmp_path / "data", seed=1, per_class=30, size=40)
    out = tmp_path / "run"
    argv = [sys.executable, "train_classify.py", *small_args(data, out, "--epochs", "3",
                                                               "--batch-size", "4", "--no-tsne")]
    proc = subprocess.Popen(argv, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    # Kill once epoch 2's training bar shows progress: certainly mid-epoch.
    mid_epoch_2 = re.compile(rb"Epoch 2/3 \[Train\]: +[1-9][0-9]?%")
    seen, deadline = b"", time.time() + 120
    while not mid_epoch_2.search(seen) and time.time() < deadline:
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert mid_epoch_2.search(seen), seen[-500:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    before = rows(out / "results.csv")
    assert [r["epoch"] for r in before] == ["1"]
    done = subprocess.run(argv + ["--resume"], cwd=REPO, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "after epoch 1" in done.stdout
    after = rows(out / "results.csv")
    assert [int(r["epoch"]) for r in after] == [1, 2, 3] and after[0] == before[0]
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 3
    assert json.loads((out / "metrics.json").read_text())["best_epoch"] in (1, 2, 3)


def test_ddp_two_processes_on_cpu_with_workers_then_resume(wildlife, tmp_path):
    """21 validation images over 2 ranks (11 + 10, no padding), DataLoader workers as by
    default (2 per rank): the all-reduced val accuracy of the epoch equals rank 0's
    single-process re-evaluation of the same weights; a torchrun --resume continues it."""
    data = tmp_path / "data"
    shutil.copytree(wildlife, data)
    shutil.copy(data / "dog" / "dog_0000.jpg", data / "dog" / "extra.jpg")  # 13 dogs: 3 in val
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_port", "29533", "train_classify.py",
            *small_args(data, tmp_path / "ddp", "--epochs", "1", "--no-tsne", "--workers", "2")]
    done = subprocess.run(argv, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = rows(tmp_path / "ddp" / "results.csv")
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert len(table) == 1 and np.array(metrics["confusion_matrix"]).sum() == 21
    assert float(table[0]["val_acc"]) == pytest.approx(metrics["accuracy"], abs=1e-5)
    assert float(table[0]["val_macro_f1"]) == pytest.approx(metrics["macro_f1"], abs=1e-5)
    assert done.stdout.count("[Epoch 1/1]") == 1  # rank 0 alone reports

    again = subprocess.run(argv + ["--resume", "--epochs", "2"], cwd=REPO, env=ENV,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("after epoch 1") == 1 and "[Epoch 2/2]" in again.stdout
    resumed = rows(tmp_path / "ddp" / "results.csv")
    assert [r["epoch"] for r in resumed] == ["1", "2"] and resumed[0] == table[0]
    assert torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["epoch"] == 2
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    best = resumed[metrics["best_epoch"] - 1]
    assert float(best["val_acc"]) == pytest.approx(metrics["accuracy"], abs=1e-5)
    assert yaml.safe_load((tmp_path / "ddp" / "args.yaml").read_text())["epochs"] == 2


def test_documented_defaults_train_checkpoint_and_resume(tmp_path):
    """`train_classify.py --data DIR` as documented (ConvNet, batch 32, 2 DataLoader workers,
    runs/classify/exp, t-SNE on) with only the data, --epochs and --img-size made small; then a
    bare --resume (the newest runs/classify/*/last.pt) to 3 epochs."""
    data = make_classify(tmp_path / "data", seed=2, per_class=8, size=32)
    script = str(REPO / "train_classify.py")
    first = subprocess.run([sys.executable, script, "--data", str(data), "--epochs", "2",
                            "--img-size", "32"], cwd=tmp_path, env=ENV, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "runs" / "classify" / "exp"
    saved = yaml.safe_load((run / "args.yaml").read_text())
    assert (saved["workers"], saved["batch_size"], saved["model"]) == (2, 32, "convnet")
    before = rows(run / "results.csv")
    assert [r["epoch"] for r in before] == ["1", "2"]
    split = json.loads((run / "split.json").read_text())
    assert (len(split["train"]), len(split["val"])) == (60, 20)  # 8 per class: 6 + 2

    again = subprocess.run([sys.executable, script, "--data", str(data), "--epochs", "3",
                            "--img-size", "32", "--resume"], cwd=tmp_path, env=ENV,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "after epoch 2" in again.stdout
    assert sorted(p.name for p in run.parent.iterdir()) == ["exp"]  # continued in place
    table = rows(run / "results.csv")
    assert [int(r["epoch"]) for r in table] == [1, 2, 3] and table[:2] == before
    for r in table:
        assert 0 <= float(r["val_acc"]) <= 1 and 0 <= float(r["train_acc"]) <= 1
        assert float(r["train_loss"]) > 0 and float(r["lr"]) == pytest.approx(1e-3)
    assert torch.load(run / "last.pt", weights_only=True)["epoch"] == 3
    assert yaml.safe_load((run / "args.yaml").read_text())["epochs"] == 3  # not stale
    metrics = json.loads((run / "metrics.json").read_text())
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == 20 and 0 <= metrics["accuracy"] <= 1
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-12)
    best = max(table, key=lambda r: float(r["val_acc"]))  # the first epoch reaching the max
    assert metrics["best_epoch"] == int(best["epoch"])
    assert metrics["accuracy"] == pytest.approx(float(best["val_acc"]), abs=1e-5)
    assert_png(run / "tsne_2d.png")


# Run train_classify.py in a process that SIGKILLs itself at a chosen instant of saving epoch 1:
# "last.pt": after writing last.pt's temporary file, before renaming it into place;
# "results.csv": after last.pt is in place, before results.csv claims the epoch.
KILL_AT = """
import os, runpy, signal, sys
import torch
from cvcore import runs
point = sys.argv.pop(1)
save, flush = torch.save, runs.ResultsCSV.flush

def killing_save(obj, f, *a, **k):
    save(obj, f, *a, **k)
    if point == "last.pt" and ".last.pt." in os.readlink(f"/proc/self/fd/{f.fileno()}"):
        os.kill(os.getpid(), signal.SIGKILL)

def killing_flush(self):
    if point == "results.csv" and self.rows:
        os.kill(os.getpid(), signal.SIGKILL)
    flush(self)

torch.save, runs.ResultsCSV.flush = killing_save, killing_flush
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("point", ["last.pt", "results.csv"])
def test_sigkill_while_saving_the_first_epoch_then_resume(wildlife, tmp_path, point):
    out = tmp_path / "run"
    argv = small_args(wildlife, out, "--no-tsne")
    killed = subprocess.run([sys.executable, "-c", KILL_AT, point, "train_classify.py", *argv],
                            cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert rows(out / "results.csv") == []  # the table never claims an unsaved epoch
    saved = None
    if point == "last.pt":
        assert not (out / "last.pt").exists() and (out / "best.pt").is_file()
    else:
        saved = torch.load(out / "last.pt", weights_only=True)
        assert saved["epoch"] == 1 and saved["results"]["rows"][0]["epoch"] == "1"
    done = subprocess.run([sys.executable, "train_classify.py", *argv, "--resume"], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = rows(out / "results.csv")
    assert [int(r["epoch"]) for r in table] == [1, 2]
    if saved is None:  # nothing to continue: the run started again in its folder
        assert "starting it again from epoch 0" in done.stdout
    else:  # continued after epoch 1, whose row came back from last.pt
        assert "after epoch 1" in done.stdout and table[0] == saved["results"]["rows"][0]
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2
    assert not list(out.glob(".*.tmp"))  # the killed writer's temporary file is gone
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(float(table[metrics["best_epoch"] - 1][
        "val_acc"]), abs=1e-5)


def test_resume_onecycle_with_more_epochs_stretches_the_schedule(wildlife, tmp_path):
    """OneCycleLR is sized for --epochs; resuming with more epochs rebuilds it for the new
    total and continues from the checkpoint's step count (no 'Tried to step' error)."""
    first = train_classify.main(train_classify.parse_args(
        small_args(wildlife, tmp_path, "--epochs", "1", "--no-tsne", "--sched", "onecycle")))
    steps = torch.load(first / "last.pt", weights_only=True)["scheduler"]["last_epoch"]
    assert steps == 6  # 96 training images, batches of 16
    train_classify.main(train_classify.parse_args(
        small_args(wildlife, tmp_path, "--epochs", "3", "--no-tsne", "--sched", "onecycle",
                   "--resume")))
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["scheduler"]["last_epoch"] == 18 and ckpt["scheduler"]["total_steps"] == 18
    # the lr logged at the start of epochs 2 and 3 is the 3-epoch cycle's after 6 and 12 steps
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1e-3)
    reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=18)
    expected = []
    for step in range(13):
        if step in (6, 12):
            expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    table = rows(tmp_path / "results.csv")
    assert [r["epoch"] for r in table] == ["1", "2", "3"]
    assert [float(r["lr"]) for r in table[1:]] == pytest.approx(expected, rel=1e-5)
    assert yaml.safe_load((tmp_path / "args.yaml").read_text())["epochs"] == 3


def test_compare_runs(wildlife, tmp_path):
    a = train_classify.main(train_classify.parse_args(
        small_args(wildlife, tmp_path / "a", "--epochs", "1", "--no-tsne")))
    b = train_classify.main(train_classify.parse_args(
        small_args(wildlife, tmp_path / "b", "--epochs", "1", "--no-tsne", "--augment")))
    out = train_classify.compare([str(a), str(b), "--out", str(tmp_path / "cmp")])
    table = (out / "comparison.md").read_text()
    assert "convnet +aug" in table and table.count("\n") == 4
    last = table.splitlines()[-1].split("|")
    train_acc = float(rows(b / "results.csv")[0]["train_acc"])  # one epoch: the best one
    assert float(last[5]) == pytest.approx(train_acc, abs=1e-4)
    assert float(last[6]) == pytest.approx(json.loads((b / "metrics.json").read_text())[
        "accuracy"], abs=1e-4)
    assert_png(out / "comparison.png")


def test_wandb_and_tensorboard_hooks(wildlife, tmp_path, monkeypatch):
    """The optional loggers, with stand-ins for the packages (neither is a dependency)."""
    logged, closed, scalars = [], [], []

    class Run:
        def log(self, row):
            logged.append(dict(row))

        def finish(self):
            closed.append("wandb")

    def init(project, name, dir, config):
        assert os.environ["WANDB_MODE"] == "offline"  # no network unless the user says so
        assert project == "cvcore-classify" and config["model"] == "convnet"
        return Run()

    class SummaryWriter:
        def __init__(self, log_dir):
            assert log_dir.endswith("tensorboard")

        def add_scalar(self, key, value, step):
            scalars.append((key, step))

        def flush(self):
            pass

        def close(self):
            closed.append("tensorboard")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard",
                        types.SimpleNamespace(SummaryWriter=SummaryWriter))
    monkeypatch.setenv("WANDB_MODE", "restored-by-monkeypatch")
    monkeypatch.delenv("WANDB_MODE")
    train_classify.main(train_classify.parse_args(
        small_args(wildlife, tmp_path, "--no-tsne", "--wandb", "--tensorboard")))
    assert [row["epoch"] for row in logged] == [1, 2]
    assert set(logged[0]) == set(rows(tmp_path / "results.csv")[0])
    assert ("val_acc", 2) in scalars and sorted(closed) == ["tensorboard", "wandb"]
