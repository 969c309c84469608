"""train_segment.py: tiny SegNet and DeepLabV3 runs, test-only, the report's decoder, errors,
the command line at its defaults (DataLoader workers) with --resume, and DDP under torchrun."""

import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import train_segment
from cvcore.errors import InputError
from cvcore.segmentation.models import SegNet, SegNetDecoder, build_segmenter, check_input_size
from cvcore.synth.camvid import make_camvid
from tests.conftest import REPO

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def camvid(tmp_path_factory):
    return make_camvid(tmp_path_factory.mktemp("camvid"), seed=0, size=(64, 48), counts=(4, 2, 2))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVCORE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained(camvid, tmp_path_factory):
    """model name -> run directory of a 1-epoch run, trained once per module."""
    runs = {}

    def run(model):
        if model not in runs:
            runs[model] = train_segment.main(args_for(camvid, tmp_path_factory.mktemp(model),
                                                      model))
        return runs[model]
    return run


def args_for(data, out, model, *extra):
    return train_segment.parse_args([
        "--data", str(data), "--model", model, "--img-size", "64", "48", "--epochs", "1",
        "--batch-size", "2", "--workers", "0", "--device", "cpu", "--out", str(out), *extra])


def test_segnet_decoder_is_the_reports():
    decoder = SegNetDecoder(3, 32)
    names = [n for n, _ in decoder.named_children()]
    assert names[:3] == ["MaxDe", "ConvDe51", "BNDe51"] and names[-1] == "ConvDe12"
    assert decoder.BNDe43.momentum == 0.5 and decoder.ConvDe43.out_channels == 256
    assert decoder.ConvDe12.out_channels == 32 and not hasattr(decoder, "BNDe12")
    # 72 x 80 pools to odd heights (9 -> 4) and widths (5 -> 2): unpooling to the encoder's
    # pre-pool sizes puts every value back where it was pooled from.
    model = SegNet(11).eval()
    assert model(torch.zeros(1, 3, 72, 80)).shape == (1, 11, 72, 80)
    x = torch.randn(1, 512, 9, 5)
    pooled, ind = torch.nn.functional.max_pool2d(x, 2, 2, return_indices=True)
    up = model.decoder.MaxDe(pooled, ind, output_size=x.shape[-2:])
    # Indices are flat positions within each channel's 9 x 5 map.
    assert torch.equal(up.view(512, -1).gather(1, ind.view(512, -1)), pooled.view(512, -1))


@pytest.mark.parametrize("model", ["segnet", "deeplabv3"])
def test_one_epoch_writes_outputs(trained, model):
    run_dir = trained(model)
    for name in ("args.yaml", "results.csv", "last.pt", "best.pt", "metrics.json",
                 "class_distribution.csv"):
        assert (run_dir / name).stat().st_size > 0, name
    for name in ("curves.png", "class_distribution.png", "class_samples.png",
                 "low_iou_samples.png"):
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG"
            assert np.asarray(image.convert("L"), float).std() > 1.0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["pixel_acc"] <= 1 and len(metrics["per_class"]) == 32
    assert sum(metrics["iou_histogram"]["counts"]) == metrics["classes_in_miou"]
    assert len(metrics["per_image_miou"]) == 2
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == 2 * 64 * 48  # synthetic labels have no unknown colours


def test_test_only_and_wrong_checkpoint(camvid, trained, tmp_path):
    run_dir = trained("segnet")
    again = train_segment.main(args_for(camvid, tmp_path / "b", "segnet", "--test-only",
                                        "--weights", str(run_dir / "best.pt")))
    first = json.loads((run_dir / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert first["miou"] == pytest.approx(second["miou"], abs=1e-12)
    with pytest.raises(InputError, match="checkpoint is for model 'segnet', not 'deeplabv3'"):
        train_segment.main(args_for(camvid, tmp_path / "c", "deeplabv3", "--test-only",
                                    "--weights", str(run_dir / "best.pt")))


def test_offline_pretrained_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InputError, match="vgg16_bn-6c64b313.pth"):
        build_segmenter("segnet", 11, pretrained=True)
    with pytest.raises(InputError, match="deeplabv3_resnet50_coco-cd0a2569.pth"):
        build_segmenter("deeplabv3", 11, pretrained=True)


def test_freeze_encoder():
    model = build_segmenter("segnet", 5, freeze_encoder=True)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.decoder.parameters())


def test_input_size_minimum():
    check_input_size("segnet", 32, 32)
    check_input_size("deeplabv3", 1, 1)
    for width, height in ((33, 17), (8, 8), (0, 0), (-64, 48)):
        with pytest.raises(InputError, match="segnet needs at least 32 x 32 pixels"):
            check_input_size("segnet", width, height)
    with pytest.raises(InputError, match="deeplabv3 needs at least 1 x 1 pixels"):
        check_input_size("deeplabv3", 0, 5)
    model = SegNet(3).train()  # the minimum runs, with a batch of one
    assert model(torch.zeros(1, 3, 32, 33)).shape == (1, 3, 32, 33)


def run_script(*argv, cache, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CVCORE_CACHE": str(cache)}
    done = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_defaults_with_dataloader_workers_then_resume(camvid, tmp_path):
    """The defaults (segnet, batch 4, 2 DataLoader workers forked after the main process ran
    the parallel Numba label decoder and confusion matrix: issue #11's "fork() called from a
    process already using GNU OpenMP" abort) for 2 epochs, then --resume to 3. The workers read
    the labels the up-front check cached; the kernel inside forked workers is
    tests/test_masks.py::test_kernel_in_forked_dataloader_workers."""
    out = tmp_path / "run"
    base = ["train_segment.py", "--data", str(camvid), "--img-size", "64", "48", "--out", str(out)]
    run_script(*base, "--epochs", "2", cache=tmp_path / "cache")
    before = rows(out / "results.csv")
    resumed = run_script(*base, "--epochs", "3", "--resume", cache=tmp_path / "cache")
    assert f"resuming {out / 'last.pt'} after epoch 2" in resumed.stdout
    table = rows(out / "results.csv")
    assert [int(r["epoch"]) for r in table] == [1, 2, 3] and table[:2] == before
    for row in table:
        assert math.isfinite(float(row["train_loss"])) and 0 <= float(row["val_acc"]) <= 1
    miou = [float(r["val_miou"]) for r in table]
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["epoch"] == 1 + int(np.argmax(miou)) and best["best"] == pytest.approx(max(miou))
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 3
    metrics = json.loads((out / "metrics.json").read_text())
    cm = np.array(metrics["confusion_matrix"])
    assert cm.sum() == 2 * 64 * 48 and metrics["pixel_acc"] == pytest.approx(np.trace(cm) /
                                                                              cm.sum())
    assert 0 < metrics["miou"] <= 1 and len(metrics["per_image_miou"]) == 2
    assert metrics["unknown_labels"]["pixels"] == 0


def test_torchrun_two_processes_with_workers_then_resume(tmp_path):
    """2 CPU ranks (gloo), 2 DataLoader workers each. The test split is the 3 validation images,
    so the epoch's all-reduced validation numbers (sharded 2 + 1, unpadded) must equal rank 0's
    own test evaluation of best.pt (the epoch-1 weights), up to a few near-tie pixels whose
    argmax flips with the batch size (2 + 1 there, 3 here): a padded repeat of one image would
    move them by far more."""
    data = make_camvid(tmp_path / "cv", seed=1, size=(64, 48), counts=(4, 3, 1))
    for kind in ("", "_labels"):
        shutil.rmtree(data / f"test{kind}")
        shutil.copytree(data / f"val{kind}", data / f"test{kind}")
    out = tmp_path / "ddp"
    done = run_script("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                      "29547", "train_segment.py", "--data", str(data), "--img-size", "64", "48",
                      "--epochs", "1", "--out", str(out), cache=tmp_path / "cache")
    table = rows(out / "results.csv")
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(table) == 1 and np.array(metrics["confusion_matrix"]).sum() == 3 * 64 * 48
    assert float(table[0]["val_acc"]) == pytest.approx(metrics["pixel_acc"], abs=1e-3)
    assert float(table[0]["val_miou"]) == pytest.approx(metrics["miou"], abs=1e-3)
    assert done.stdout.count("[Epoch 1/1]") == 1  # rank 0 alone reports
    # A torchrun --resume continues the same run: epoch 1's row kept, epoch 2 added.
    again = run_script("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                       "29548", "train_segment.py", "--data", str(data), "--img-size", "64", "48",
                       "--epochs", "2", "--out", str(out), "--resume", cache=tmp_path / "cache")
    resumed = rows(out / "results.csv")
    assert [r["epoch"] for r in resumed] == ["1", "2"] and resumed[0] == table[0]
    assert again.stdout.count("[Epoch 2/2]") == 1 and "[Epoch 1/2]" not in again.stdout
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2
