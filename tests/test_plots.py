"""cvcore.plots: every figure is a real PNG with content, from the data it is given."""

import numpy as np
from PIL import Image

from cvcore import plots
from cvcore.runs import ResultsCSV


def pixels(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"), float)


def test_curves_from_any_results_csv(tmp_path):
    csv = ResultsCSV(tmp_path / "results.csv")
    for epoch in range(1, 4):
        csv.write({"epoch": epoch, "train_loss": 1 / epoch, "val_loss": 1.2 / epoch,
                   "val_miou": 0.2 * epoch, "lr": 0.01})
    one_panel = plots.plot_results_csv(tmp_path / "results.csv", tmp_path / "curves.png")
    image = pixels(one_panel)
    assert image.std() > 5
    # panels: loss, miou, lr -> about three times as wide as tall
    assert 2.2 < image.shape[1] / image.shape[0] < 4.5


def test_confusion_and_empty_grid(tmp_path):
    cm = np.array([[5, 1], [0, 7]])
    assert pixels(plots.plot_confusion(cm, ["a", "b"], tmp_path / "cm.png")).std() > 5
    empty = pixels(plots.image_grid([], [], tmp_path / "none.png", empty="nothing wrong"))
    assert empty.std() > 1  # the note is drawn, the figure is not blank
    images = [np.full((8, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    grid = pixels(plots.image_grid(images, ["0", "128", "255"], tmp_path / "grid.png",
                                   columns=3))
    assert grid.min() == 0 and grid.max() == 255
