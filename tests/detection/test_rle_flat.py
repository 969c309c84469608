"""cvcore.detection.rle's flat-array entry points (the JSON byte scanner's and the evaluator's)
against pycocotools 2.0.11 and against the list-based API: seeded random cases."""

import json

import numpy as np
import pycocotools.mask as cm
import pytest

from cvcore.detection import rle
from tests.detection.rlecases import random_masks, random_polygon


def _json_spans(strings: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The strings written as a JSON list (backslashes escaped, as json.dumps writes them) and
    the spans of their bodies between the quotes."""
    text = json.dumps([s.decode() for s in strings]).encode()
    buf = np.frombuffer(text, np.uint8)
    quotes = np.flatnonzero(buf == ord('"'))
    return buf, quotes[0::2] + 1, quotes[1::2]


def test_string_spans_match_from_strings_and_pycocotools():
    rng = np.random.default_rng(10)
    masks_seen = slashes = 0
    for _ in range(120):
        h, w, n = int(rng.integers(1, 120)), int(rng.integers(1, 120)), int(rng.integers(0, 12))
        masks = random_masks(rng, h, w, n)
        ref = cm.encode(masks)
        strings = [d["counts"] for d in ref]
        want = rle.from_strings(strings, h, w)
        # raw bytes one after the other, and the same strings inside a JSON document
        offs = np.cumsum([0] + [len(s) for s in strings])
        raw = rle.from_string_spans(np.frombuffer(b"".join(strings), np.uint8), offs[:-1],
                                    offs[1:], h, w)
        escaped = rle.from_string_spans(*_json_spans(strings), np.full(n, h), np.full(n, w),
                                        escaped=True)
        for got in (raw, escaped):
            np.testing.assert_array_equal(got.starts, want.starts)
            np.testing.assert_array_equal(got.runs, want.runs)
            assert rle.to_strings(got) == strings
        if n:
            np.testing.assert_array_equal(rle.decode(escaped), masks)
        masks_seen += n
        slashes += sum(s.count(b"\\") for s in strings)
    assert masks_seen > 500 and slashes > 50


@pytest.mark.parametrize("body, size, message", [
    (b"0!", (4, 4), "invalid character"),
    (b"0Q", (4, 4), "end in the middle"),
    (b"0A", (4, 4), "past h\\*w"),
    (b"03", (4, 4), "less than h\\*w"),
    (b"0p", (4, 4), "invalid character"),  # 'p' is just past 'o'
])
def test_string_spans_errors_are_from_strings_errors(body, size, message):
    good = b"0`0"  # runs [0, 16]: a full 4 x 4 mask
    strings = [good, body]
    with pytest.raises(ValueError, match=message) as want:
        rle.from_strings(strings, *size)
    buf = np.frombuffer(good + body, np.uint8)
    with pytest.raises(ValueError, match=message) as got:
        rle.from_string_spans(buf, [0, 3], [3, 3 + len(body)], *size)
    assert str(got.value) == str(want.value) and str(got.value).startswith("RLE 1: ")


def test_string_spans_escapes_and_bounds():
    # a backslash ('\\' is the number 44 - a continuation character) written escaped in JSON
    buf = np.frombuffer(b'"\\\\0"', np.uint8)
    r = rle.from_string_spans(buf, [1], [4], 1, 2 ** 30, escaped=True, check=False)
    assert r.runs.tolist() == rle.from_strings([b"\\0"], 1, 1, check=False).runs.tolist()
    with pytest.raises(ValueError, match="JSON escape"):
        rle.from_string_spans(np.frombuffer(b'\\n0', np.uint8), [0], [3], 4, 4, escaped=True)
    with pytest.raises(ValueError, match="inside the buffer"):
        rle.from_string_spans(np.zeros(3, np.uint8), [0], [4], 4, 4)


def test_polygon_groups_match_ann_to_rle():
    rng = np.random.default_rng(11)
    coords, poly_starts, group_starts, hs, ws, want = [], [0], [0], [], [], []
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        polys = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 5)))]
        for p in polys:
            coords.append(p)
            poly_starts.append(poly_starts[-1] + len(p))
        group_starts.append(group_starts[-1] + len(polys))
        hs.append(h)
        ws.append(w)
        want.append(cm.merge(cm.frPyObjects([p.tolist() for p in polys], h, w))["counts"])
    got = rle.from_polygon_groups(np.concatenate(coords), poly_starts, group_starts,
                                  np.array(hs), np.array(ws))
    assert rle.to_strings(got) == want
    assert got.heights.tolist() == hs and got.widths.tolist() == ws
    with pytest.raises(ValueError, match="at least one polygon"):
        rle.from_polygon_groups(np.zeros(6), [0, 6], [0, 1, 1], 4, 4)


def test_polygon_groups_on_big_images_match_pycocotools():
    # val2017-sized images: long edges take the paths that skip to the keepable columns
    rng = np.random.default_rng(12)
    h, w = 480, 640
    polys = []
    for _ in range(300):
        k = int(rng.integers(3, 30))
        centre = rng.uniform([-50, -50], [w + 50, h + 50])
        radius = rng.uniform(1, 300)
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        xy = centre + radius * rng.uniform(0.3, 1, (k, 1)) * np.column_stack(
            [np.cos(angles), np.sin(angles)])
        polys.append(np.round(xy.ravel(), int(rng.integers(0, 3))))
    starts = np.cumsum([0] + [len(p) for p in polys])
    got = rle.from_polygons(np.concatenate(polys), starts, h, w)
    assert rle.to_strings(got) == [d["counts"] for d in
                                   cm.frPyObjects([p.tolist() for p in polys], h, w)]


def test_area_and_bbox_take_and_interleave():
    rng = np.random.default_rng(13)
    masks = random_masks(rng, 37, 23, 60)
    ref = cm.encode(masks)
    r = rle.encode(masks)
    areas, boxes = rle.area_and_bbox(r)
    np.testing.assert_array_equal(areas, cm.area(ref))
    np.testing.assert_array_equal(boxes, cm.toBbox(ref))
    index = rng.integers(0, 60, 90)
    taken = rle.take(r, index)
    assert rle.to_strings(taken) == [ref[i]["counts"] for i in index]
    order = rng.permutation(60)
    parts = [rle.take(r, order[:25]), rle.take(r, order[25:])]
    back = rle.interleave(parts, [order[:25], order[25:]])
    assert rle.to_strings(back) == [d["counts"] for d in ref]


def test_mask_iou_blocks_match_pycocotools():
    rng = np.random.default_rng(14)
    h, w = 31, 27
    dt, gt = random_masks(rng, h, w, 80), random_masks(rng, h, w, 50)
    dt_r, gt_r = rle.encode(dt), rle.encode(gt)
    crowd_all = rng.random(50) < 0.25
    # groups of random rows, in shuffled order, some groups empty on one side
    n_groups = 12
    d_group, g_group = rng.integers(0, n_groups, 80), rng.integers(0, n_groups, 50)
    d_idx, g_idx = np.argsort(d_group, kind="stable"), np.argsort(g_group, kind="stable")
    det_start = np.searchsorted(d_group[d_idx], np.arange(n_groups + 1))
    gt_start = np.searchsorted(g_group[g_idx], np.arange(n_groups + 1))
    offsets = np.concatenate([[0], np.cumsum(np.diff(det_start) * np.diff(gt_start))])
    out = np.zeros(offsets[-1])
    crowd = crowd_all[g_idx]
    rle.mask_iou_blocks(det_start, gt_start, offsets, dt_r, d_idx, gt_r, g_idx, crowd, out)
    dt_ref, gt_ref = cm.encode(dt), cm.encode(gt)
    checked = 0
    for i in range(n_groups):
        ds, gs = d_idx[det_start[i]:det_start[i + 1]], g_idx[gt_start[i]:gt_start[i + 1]]
        if len(ds) and len(gs):
            want = cm.iou([dt_ref[j] for j in ds], [gt_ref[j] for j in gs],
                          crowd_all[gs].astype(np.uint8))
            got = out[offsets[i]:offsets[i + 1]].reshape(len(ds), len(gs))
            np.testing.assert_array_equal(got, want)
            checked += got.size
    assert checked > 200


def test_flat_counts_like_from_counts():
    rng = np.random.default_rng(15)
    counts, hs, ws = [], [], []
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 20, 2))
        runs = rle.encode(random_masks(rng, h, w, 1)).runs
        counts.append(runs.astype(np.float64) + rng.uniform(0, 0.9, len(runs)))  # truncated
        hs.append(h)
        ws.append(w)
    starts = np.cumsum([0] + [len(c) for c in counts])
    got = rle.from_flat_counts(np.concatenate(counts), starts, hs, ws)
    want = rle.from_counts([c.tolist() for c in counts], hs, ws)
    np.testing.assert_array_equal(got.runs, want.runs)
    np.testing.assert_array_equal(got.starts, want.starts)
    values = np.concatenate(counts)
    values[starts[7] + 1] = -1.0
    with pytest.raises(ValueError, match="^RLE 7: uncompressed counts"):
        rle.from_flat_counts(values, starts, hs, ws)
    values[starts[7] + 1] = 10**6
    with pytest.raises(ValueError, match="^RLE 7: counts sum to"):
        rle.from_flat_counts(values, starts, hs, ws)
