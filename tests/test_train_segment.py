"""train_segment.py: tiny SegNet and DeepLabV3 runs, test-only, the report's decoder, errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import train_segment
from cvcore.errors import InputError
from cvcore.segment_models import SegNet, SegNetDecoder, build_segmenter
from cvcore.synth.camvid import make_camvid

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def camvid(tmp_path_factory):
    return make_camvid(tmp_path_factory.mktemp("camvid"), seed=0, size=(64, 48), counts=(4, 2, 2))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVCORE_CACHE", str(tmp_path / "cache"))


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
def test_one_epoch_writes_outputs(camvid, tmp_path, model):
    run_dir = train_segment.main(args_for(camvid, tmp_path / model, model))
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


def test_test_only_and_wrong_checkpoint(camvid, tmp_path):
    run_dir = train_segment.main(args_for(camvid, tmp_path / "a", "segnet"))
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


def test_resume_continues_the_run(camvid, tmp_path):
    import csv

    run_dir = train_segment.main(args_for(camvid, tmp_path / "r", "segnet"))
    resumed = train_segment.main(args_for(camvid, tmp_path / "r", "segnet", "--epochs", "2",
                                          "--resume"))
    assert resumed == run_dir
    with open(run_dir / "results.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]
    assert torch.load(run_dir / "last.pt", weights_only=True)["epoch"] == 2
