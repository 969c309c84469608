"""COCO file loading: arrays as pycocotools' loadRes builds them, one-line errors otherwise."""

import json

import numpy as np
import pytest

from cvcore.coco import load_gt, load_results
from cvcore.errors import InputError

GT = {"images": [{"id": 4, "width": 64, "height": 48, "file_name": "a.jpg"}, {"id": 2}],
      "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
      "annotations": [
          {"id": 7, "image_id": 4, "category_id": 18, "bbox": [1, 2, 3, 4], "area": 10.5,
           "iscrowd": 0},
          {"id": 8, "image_id": 2, "category_id": 1, "bbox": [0, 0, 8, 8], "area": 64,
           "iscrowd": 1}]}


def test_ground_truth_arrays():
    gt = load_gt(GT)
    assert gt.image_ids.tolist() == [4, 2] and gt.cat_names == ["dog", "person"]
    assert gt.boxes.tolist() == [[1, 2, 3, 4], [0, 0, 8, 8]]
    assert gt.areas.tolist() == [10.5, 64.0] and gt.iscrowd.tolist() == [False, True]
    assert gt.widths.tolist() == [64, 0] and gt.file_names[0] == "a.jpg"


def test_results_like_load_res(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([
        {"image_id": 2, "category_id": 1, "bbox": [0.5, 1, 2.5, 4], "score": 0.25},
        {"image_id": 4, "category_id": 18, "bbox": [0, 0, 3, 3], "score": 1}]))
    dets = load_results(path, load_gt(GT))
    assert dets.ids.tolist() == [1, 2] and dets.areas.tolist() == [10.0, 9.0]
    assert dets.scores.dtype == np.float64 and dets.scores.tolist() == [0.25, 1.0]
    assert load_results([], load_gt(GT)).boxes.shape == (0, 4)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("images"), "missing or invalid 'images'"),
    (lambda d: d["annotations"][0].pop("bbox"), "annotation #0 has no 'bbox'"),
    (lambda d: d["annotations"][1].update(id=7), "duplicate annotation id 7"),
    (lambda d: d["images"].append({"id": 4}), "duplicate image id 4"),
    (lambda d: d["annotations"][1].update(image_id=5), "#1 refers to unknown image id 5"),
    (lambda d: d["annotations"][0].update(category_id=3), "unknown category id 3"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, float("inf"), 1]), "non-finite bbox"),
    (lambda d: d["annotations"][0].update(area=-1), "bad area"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, 1]), "#0 has a bad 'bbox'"),
])
def test_bad_ground_truth(tmp_path, change, message):
    data = json.loads(json.dumps(GT))
    change(data)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_gt(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_missing_file_and_top_level_type(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_gt(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InputError, match="JSON object"):
        load_gt(tmp_path / "list.json")
