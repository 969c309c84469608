"""Bad input to train_classify.py (training and ``compare``): every case stops with exit code 2
and exactly one ``error:`` line naming the offending file or argument, no traceback, and leaves
nothing behind (no run directory; a resumed run's files byte-for-byte as they were)."""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import train_classify
from cvcore.classification.data import stratified_split
from cvcore.classification.models import ConvNet
from cvcore.synth.classify import make_classify
from tests.conftest import REPO

torch.set_num_threads(1)


class Code:
    """A pickle that runs a shell command when unpickled without ``weights_only``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Tiny wildlife data (3 images per class: 2 train, 1 val), a finished 2-epoch run of it,
    and a malicious checkpoint whose unpickling would create ``marker``."""
    root = tmp_path_factory.mktemp("bad")
    data = make_classify(root / "data", seed=0, per_class=3, size=32)
    run = train_classify.main(train_classify.parse_args([
        "--data", str(data), "--img-size", "32", "--epochs", "2", "--workers", "0",
        "--device", "cpu", "--threads", "1", "--no-tsne", "--out", str(root / "run")]))
    marker = root / "MARKER"
    torch.save({"model": Code(f"touch {marker}"), "epoch": 1}, root / "evil.pt")
    torch.save(ConvNet(10, 32).state_dict(), root / "convnet.pt")
    return {"data": data, "run": run, "evil": root / "evil.pt", "marker": marker,
            "convnet": root / "convnet.pt"}


def train(b, tmp, *extra, data=None):
    """A new run into ``tmp/out`` (which must not appear)."""
    return ["train_classify.py", "--data", str(data or b["data"]), "--img-size", "32",
            "--epochs", "1", "--workers", "0", "--device", "cpu", "--no-tsne",
            "--out", str(tmp / "out"), *extra]


def copy_run(b, tmp):
    return shutil.copytree(b["run"], tmp / "run")


def resume(b, tmp, *extra, split=None):
    """--resume of a copy of the finished run (whose files must stay as they are), its
    split.json replaced by ``split`` (a Split or text) when given."""
    run = copy_run(b, tmp)
    if isinstance(split, str):
        (run / "split.json").write_text(split)
    elif split is not None:
        split.save(run / "split.json")
    return ["train_classify.py", "--data", str(b["data"]), "--img-size", "32", "--epochs", "3",
            "--workers", "0", "--device", "cpu", "--no-tsne", "--out", str(run), "--resume",
            *extra]


def subset(b, tmp, classes, per_class):
    """A copy of the data with the first ``per_class`` images of ``classes``."""
    for name in classes:
        (tmp / "sub" / name).mkdir(parents=True)
        for src in sorted((b["data"] / name).iterdir())[:per_class]:
            shutil.copy(src, tmp / "sub" / name)
    return tmp / "sub"


def empty_folder(tmp):
    (tmp / "empty").mkdir()
    return tmp / "empty"


def compare(tmp, *runs):
    return ["train_classify.py", "compare", *map(str, runs), "--out", str(tmp / "out")]


def broken_run(b, tmp, name, text):
    run = copy_run(b, tmp)
    if text is None:
        (run / name).unlink()
    else:
        (run / name).write_text(text)
    return run


# id -> (build(base, tmp) -> argv, text the error line must contain)
CASES = {
    "batch-size-0": (lambda b, t: train(b, t, "--batch-size", "0"), "--batch-size"),
    "epochs-0": (lambda b, t: train(b, t, "--epochs", "0"), "--epochs"),
    "epochs-not-a-number": (lambda b, t: train(b, t, "--epochs", "two"), "--epochs"),
    "img-size-below-convnet-minimum": (lambda b, t: train(b, t, "--img-size", "8"),
                                       "--img-size"),
    "data-missing": (lambda b, t: train(b, t, data=t / "nowhere"), "nowhere"),
    "data-is-a-file": (lambda b, t: train(b, t, data=b["data"] / "dog" / "dog_0000.jpg"),
                       "dog_0000.jpg"),
    "data-empty-folder": (lambda b, t: train(b, t, data=empty_folder(t)), "empty"),
    "data-one-class": (lambda b, t: train(b, t, data=subset(b, t, ["dog"], 3)), "sub"),
    "data-one-image-per-class": (lambda b, t: train(b, t, data=subset(b, t, ["dog", "birds"],
                                                                      1)), "sub"),
    "weights-of-another-model": (lambda b, t: train(b, t, "--model", "resnet18", "--weights",
                                                    str(b["convnet"])), "convnet.pt"),
    "weights-that-run-code": (lambda b, t: train(b, t, "--model", "resnet18", "--weights",
                                                 str(b["evil"])), "evil.pt"),
    "resume-checkpoint-missing": (lambda b, t: train(b, t, "--resume", str(t / "gone.pt")),
                                  "gone.pt"),
    "resume-checkpoint-that-runs-code": (lambda b, t: train(b, t, "--resume", str(b["evil"])),
                                         "evil.pt"),
    "resume-another-model": (lambda b, t: resume(b, t, "--model", "resnet18"), "last.pt"),
    "resume-onecycle-from-constant-lr": (lambda b, t: resume(b, t, "--sched", "onecycle"),
                                         "last.pt"),
    "resume-fewer-epochs-than-done": (lambda b, t: resume(b, t, "--epochs", "1"), "--epochs"),
    "resume-split-of-another-dataset": (
        lambda b, t: resume(b, t, split=stratified_split(subset(b, t, ["dog", "birds"], 3))),
        "split.json"),
    "resume-split-not-json": (lambda b, t: resume(b, t, split='{"classes": ['), "split.json"),
    "compare-run-missing": (lambda b, t: compare(t, b["run"], t / "norun"), "norun"),
    "compare-run-without-results": (
        lambda b, t: compare(t, broken_run(b, t, "results.csv", None)), "results.csv"),
    "compare-metrics-not-json": (
        lambda b, t: compare(t, broken_run(b, t, "metrics.json", "{")), "metrics.json"),
    "compare-results-garbage": (
        lambda b, t: compare(t, broken_run(b, t, "results.csv", "epoch,val_acc\nlast,x\n")),
        "results.csv"),
}


def state(folder):
    """Every file under ``folder`` with its bytes and modification time."""
    if not folder.exists():
        return None
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def outcomes(base, tmp_path_factory):
    """Every case run once, two processes at a time (most of each is Python and torch
    start-up): case -> (its folder, its run folder's files before, the finished process)."""
    def run(case):
        tmp = tmp_path_factory.mktemp(case)
        argv = CASES[case][0](base, tmp)
        before = state(tmp / "run")
        return tmp, before, subprocess.run([sys.executable, *argv], cwd=REPO,
                                           capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(base, outcomes, case):
    tmp_path, before, done = outcomes[case]
    named = CASES[case][1]
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert named in lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()  # no run directory, no comparison folder
    assert state(tmp_path / "run") == before  # a refused resume rewrites nothing
    assert not base["marker"].exists()  # the malicious pickle never ran
