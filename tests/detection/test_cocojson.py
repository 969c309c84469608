"""The byte scanner (cvcore.detection.cocojson) against the strict json.loads path.

Seeded random COCO documents (random whitespace, key order, unknown nested fields, escapes and
non-ASCII strings, integer / decimal / exponent numbers, all three iou types with polygons and
crowd RLE) must give bit-identical arrays through the scanner and through json.loads; random
corruptions must give either the same arrays or the same one-line error; the scanner's number
conversion must equal Python's float() on random decimal strings.
"""

from __future__ import annotations

import json
import random
import sys

import numpy as np
import pytest

from cvcore.detection import coco, cocojson
from cvcore.detection.rle import encode, to_strings
from cvcore.errors import InputError


class Raw(str):
    """A number token written as it is."""


def _number(rng: random.Random, x: float, integer: bool = False) -> Raw:
    if integer:
        return Raw(str(int(x)))
    style = rng.randrange(7)
    if style == 0 and float(x).is_integer():
        return Raw(str(int(x)))
    if style == 1:
        return Raw(f"{x:.3f}")
    if style == 2:
        return Raw(f"{x:.6e}".replace("e", rng.choice("eE")))
    if style == 3:
        return Raw(f"{x:.17g}")
    if style == 4:
        return Raw(f"{x * 10 ** 5:.0f}e-5")
    return Raw(repr(float(x)))


def _write(rng: random.Random, value, out: list) -> None:
    ws = lambda: out.append(rng.choice(["", "", " ", "\n", "\t", "\r\n  "]))  # noqa: E731
    if isinstance(value, Raw):
        out.append(value)
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=rng.random() < 0.5))
    elif isinstance(value, bool) or value is None or isinstance(value, int):
        out.append(json.dumps(value))
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        out.append("{")
        for i, (k, v) in enumerate(items):
            ws()
            out.append(json.dumps(k) + ":")
            ws()
            _write(rng, v, out)
            ws()
            if i < len(items) - 1:
                out.append(",")
        out.append("}")
    else:
        out.append("[")
        for i, v in enumerate(value):
            ws()
            _write(rng, v, out)
            ws()
            if i < len(value) - 1:
                out.append(",")
        out.append("]")


def _extra(rng: random.Random):
    """An unknown field's value: nested, with escapes and non-ASCII text."""
    return rng.choice([
        {"a": [1, 2.5, {"b": None, "c": True}], "s": "é\u00e9\"\\/\n\t\u2603"},
        ["x", [], {}, -0.0, 1e-7, Raw("1E+3")], "plain", Raw("-12.5e-3"), None, False,
        "\U0001f600 \\u0041"])


def _box(rng, integer=False):
    x, y = rng.uniform(0, 200), rng.uniform(0, 200)
    return [_number(rng, v, integer) for v in (x, y, rng.uniform(1, 80), rng.uniform(1, 80))]


def make_gt(rng: random.Random, iou_type: str) -> dict:
    images = [{"id": i, "width": 64 + 8 * (i % 3), "height": 48 + 8 * (i % 2),
               "file_name": rng.choice(["a.jpg", "dir/é.png", "q\"uote\\.jpg", "\u2603.jpg"]),
               **({"license": _extra(rng)} if rng.random() < 0.5 else {})}
              for i in range(1, 9)]
    cats = [{"id": c, "name": rng.choice(["cat", "déjà", "a\\b", "tab\there"]),
             **({"supercategory": "x"} if rng.random() < 0.5 else {}),
             "keypoints": ["k1", "k2", "k3"]} for c in (1, 2, 5)]
    if rng.random() < 0.3:
        del cats[1]["name"]
    anns = []
    for n in range(1, rng.randrange(5, 30)):
        image = rng.choice(images)
        h, w = image["height"], image["width"]
        crowd = rng.random() < 0.15
        ann = {"id": 100 + n, "image_id": image["id"], "category_id": rng.choice(cats)["id"],
               "bbox": _box(rng, rng.random() < 0.2), "area": _number(rng, rng.uniform(1, 900)),
               "num_keypoints": 2,
               "keypoints": [_number(rng, rng.uniform(0, 60), rng.random() < 0.5)
                             for _ in range(2)] + [Raw("2")] +
                            [_number(rng, rng.uniform(0, 60)) for _ in range(2)] + [Raw("1")] +
                            [Raw("0")] * 3}
        if crowd:
            mask = np.zeros((h, w), np.uint8)
            mask[rng.randrange(h // 2):, rng.randrange(w // 2):] = 1
            runs = encode(mask[:, :, None])
            if rng.random() < 0.5:
                ann["segmentation"] = {"size": [h, w], "counts": runs.runs.tolist()}
            else:
                ann["segmentation"] = {"counts": to_strings(runs)[0].decode(), "size": [h, w]}
            ann["iscrowd"] = rng.choice([1, True])
        else:
            ann["segmentation"] = [
                [_number(rng, rng.uniform(0, w if k % 2 == 0 else h)) for k in range(2 * m)]
                for m in rng.sample([3, 4, 5, 6], rng.randrange(1, 3))]
            if rng.random() < 0.7:
                ann["iscrowd"] = rng.choice([0, False, None])
        if rng.random() < 0.3:
            ann["extra"] = _extra(rng)
        anns.append(ann)
    return {"info": _extra(rng), "images": images, "annotations": anns, "categories": cats,
            "licenses": [{"id": 1, "name": "CC\u00a0BY"}]}


def make_results(rng: random.Random, gt: dict, iou_type: str) -> list:
    dets = []
    with_box = iou_type != "keypoints" or rng.random() < 0.5  # else loadRes' keypoint rule
    for _ in range(rng.randrange(1, 40)):
        image = rng.choice(gt["images"])
        h, w = image["height"], image["width"]
        det = {"image_id": image["id"], "category_id": rng.choice(gt["categories"])["id"],
               "score": _number(rng, rng.random())}
        if with_box:
            det["bbox"] = _box(rng)
        if iou_type == "segm":
            mask = np.zeros((h, w), np.uint8)
            mask[rng.randrange(h):, rng.randrange(w):] = 1
            det["segmentation"] = {"size": [h, w], "counts": to_strings(encode(mask[:, :, None]))[0]
                                   .decode()}
        if iou_type == "keypoints":
            det["keypoints"] = [_number(rng, rng.uniform(0, 60)) for _ in range(9)]
        if rng.random() < 0.3:
            det["id"] = _extra(rng)
        dets.append(det)
    return dets


def dump(rng: random.Random, value) -> bytes:
    out: list = []
    _write(rng, value, out)
    text = "".join(out)
    return (rng.choice(["", " ", "\n"]) + text + rng.choice(["", "\n", "  "])).encode()


def _strict_gt(data: bytes, source: str, iou_type: str):
    return coco._checked_gt(coco._JsonGT(coco._parse_json(data, source), source, iou_type),
                            source, iou_type)


def _strict_results(data: bytes, source: str, iou_type: str):
    return coco._results_from_bytes(data, source, iou_type, strict=True)


def _same(a, b) -> None:
    """Dataclasses (or arrays) equal field by field, floats bit for bit."""
    if hasattr(a, "__dataclass_fields__"):
        assert type(a) is type(b)
        for name in a.__dataclass_fields__:
            _same(getattr(a, name), getattr(b, name))
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(np.uint64), b.view(np.uint64))
        else:
            assert np.array_equal(a, b)
    else:
        assert a == b


def _outcome(load):
    """The loaded value, or the error as text (InputError; any other exception by type too,
    e.g. an RLE size of 1e999 ends in OverflowError on the strict path)."""
    try:
        return load()
    except InputError as err:
        return str(err)
    except (ValueError, TypeError, OverflowError) as err:
        return f"{type(err).__name__}: {err}"


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_scanner_matches_json_loads(tmp_path, iou_type):
    rng = random.Random(14)
    scanned = 0
    for trial in range(25):
        gt_doc = make_gt(rng, iou_type)
        gt_bytes, res_bytes = dump(rng, gt_doc), dump(rng, make_results(rng, gt_doc, iou_type))
        gt_path, res_path = tmp_path / f"gt{trial}.json", tmp_path / f"res{trial}.json"
        gt_path.write_bytes(gt_bytes)
        res_path.write_bytes(res_bytes)
        scanned += cocojson.scan_gt(np.frombuffer(gt_bytes, np.uint8), iou_type) is not None
        scanned += cocojson.scan_results(np.frombuffer(res_bytes, np.uint8),
                                         iou_type) is not None
        gt = coco.load_gt(gt_path, iou_type)
        _same(gt, _strict_gt(gt_bytes, str(gt_path), iou_type))
        dets = coco.load_results(res_path, gt, iou_type)
        _same(dets, coco._against_gt(_strict_results(res_bytes, str(res_path), iou_type), gt))
        during = []
        both = coco.load_gt_and_results(gt_path, res_path, iou_type=iou_type,
                                        meanwhile=lambda seen=during: seen.append(
                                            sys.getswitchinterval()))
        _same(both[0], gt)
        _same(both[1], dets)
        # The switch interval is shortened only while the helper threads run.
        assert during == [0.0005] and sys.getswitchinterval() == 0.005
    assert scanned == 50  # every valid document went through the scanner


def _corrupt(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return data[:rng.randrange(len(data))]
    if kind == 1:
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
    if kind == 2:
        for key in (b'"id":', b'"bbox":', b'"score":', b'"area":', b'"image_id":'):
            i = data.find(key)
            if i >= 0:
                return data[:i] + key + b"3," + data[i:]
        return data
    if kind == 3:
        i = data.find(b"[", 1)
        return data[:i + 1] + rng.choice([b"NaN,", b"Infinity,", b"-Infinity,"]) + data[i + 1:]
    if kind == 4:
        i = rng.randrange(len(data))
        return data[:i] + rng.choice([b"\xff", b"\xc3", b"\\", b'"', b"\x01", b"1e999",
                                      b"true", b"{", b"]"]) + data[i:]
    return b"\xef\xbb\xbf" + data


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_corrupted_files_same_arrays_or_same_error(tmp_path, iou_type):
    rng = random.Random(41)
    gt_doc = make_gt(rng, iou_type)
    clean_gt = _strict_gt(dump(rng, gt_doc), "gt.json", iou_type)
    for trial in range(120):
        if trial % 2:
            data = _corrupt(rng, dump(rng, gt_doc))
            path = tmp_path / "gt.json"
            path.write_bytes(data)
            got = _outcome(lambda p=path: coco.load_gt(p, iou_type))
            want = _outcome(lambda d=data, p=path: _strict_gt(d, str(p), iou_type))
        else:
            data = _corrupt(rng, dump(rng, make_results(rng, gt_doc, iou_type)))
            path = tmp_path / "res.json"
            path.write_bytes(data)
            got = _outcome(lambda p=path: coco.load_results(p, clean_gt, iou_type))
            want = _outcome(lambda d=data, p=path: coco._against_gt(
                _strict_results(d, str(p), iou_type), clean_gt))
        if isinstance(want, str):
            assert got == want
        else:
            _same(got, want)


def _random_token(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 25)))
    int_part = digits.lstrip("0") or "0"
    sign = rng.choice(["", "", "-"])
    kind = rng.randrange(6)
    if kind == 0:
        return sign + int_part[:18]
    frac = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 20)))
    token = sign + int_part[:rng.randrange(1, 4)].lstrip("0") or "0"
    token = (token if token not in ("", "-") else token + "0") + "." + frac
    if kind >= 3:
        token += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randrange(0, 330))
    return token


def test_number_conversion_equals_python_float():
    rng = random.Random(3)
    tokens = [_random_token(rng) for _ in range(20000)]
    tokens += ["0.12345678901234567", "1e-310", "-0.0", "-0", "0.0e5", "4.9e-324", "2.5e-324",
               "1.7976931348623157e308", "1e308", "123456789012345678", "9007199254740993.0",
               "0.1", "1e22", "1e23", "8.988465674311579e307", "2.2250738585072014e-308",
               "5e-324", "1.0e-22", "123456789012345678901234567890e-10"]
    doc = "[" + ",".join(f'{{"image_id":1,"category_id":1,"bbox":[{t},0,{t},1],"score":{t}}}'
                         for t in tokens) + "]"
    scan, rule = cocojson.scan_results(np.frombuffer(doc.encode(), np.uint8))
    want = np.array([float(int(t)) if "." not in t and "e" not in t.lower() else float(t)
                     for t in tokens])
    assert rule == "bbox"
    assert np.array_equal(scan.values.view(np.uint64), want.view(np.uint64))
    assert np.array_equal(scan.boxes[:, 0].view(np.uint64), want.view(np.uint64))
    assert np.array_equal(scan.boxes[:, 2].view(np.uint64), want.view(np.uint64))


def test_more_slow_numbers_than_guessed_scan_again_exactly():
    # Float32 scores and boxes written by repr (as detectron2's JSON): every number has 16-17
    # significant digits, Python's float() converts it, and there are more of them than the
    # kernel's first guess (one in 16 elements) holds.
    rng = np.random.default_rng(5)
    values = rng.random((300, 5)).astype(np.float32).astype(np.float64) * [640, 480, 90, 70, 1]
    doc = "[" + ",".join(f'{{"image_id":1,"category_id":1,"bbox":[{", ".join(map(repr, v[:4]))}],'
                         f'"score":{v[4]!r}}}' for v in values.tolist()) + "]"
    buf = np.frombuffer(doc.encode(), np.uint8)
    act, col = cocojson._tables(True, "bbox")
    first = cocojson._scan_kernel(buf, True, act, col, False, False)
    assert not first[0] and first[-1][cocojson.S_FULL] == 1
    scan, _ = cocojson.scan_results(buf)
    assert np.array_equal(scan.boxes.view(np.uint64), values[:, :4].view(np.uint64))
    assert np.array_equal(scan.values.view(np.uint64), values[:, 4].view(np.uint64))


@pytest.mark.parametrize("doc", [
    b'{"images": [], "categories": [], "images": []}',           # duplicate top-level key
    b'{"images": [{"id": 1, "id": 2}], "categories": []}',       # duplicate key in a record
    b'{"images": [{"\\u0069d": 1}], "categories": []}',          # escape in a key
    b'{"images": [{"id": 1.0}], "categories": []}',              # float id
    b'{"images": [{"id": true}], "categories": []}',             # bool id
    b'{"images": [{"id": 12345678901234567890}], "categories": []}',  # beyond 18 digits
    b'{"images": [], "categories": [], "info": NaN}',            # NaN literal
    b'{"images": [], "categories": [], "info": "\xff"}',         # invalid UTF-8
    b'\xef\xbb\xbf{"images": [], "categories": []}',             # BOM
    b'{"images": [], "categories": [], "info": "a\x01"}',        # control character
    b'{"images": [], "categories": []} x',                       # trailing data
    b'{"images": [{"id": 1}]}',                                   # no categories
])
def test_scanner_unsure_gives_none(doc):
    assert cocojson.scan_gt(np.frombuffer(doc, np.uint8)) is None


def test_scanner_reads_what_json_reads():
    doc = (b'{"info": {"x": [1, {"y": "\\u00e9\\n"}]}, "images": [{"id": 7, "file_name": '
           b'"\\u00e9\xc3\xa9.jpg", "width": 3}], "categories": [{"id": 2}], "annotations": '
           b'[{"id": 9, "image_id": 7, "category_id": 2, "bbox": [1, 2.5, 3e0, 4E-1], '
           b'"area": -0.0, "iscrowd": null}]}')
    scan = cocojson.scan_gt(np.frombuffer(doc, np.uint8))
    assert scan.images["file_names"] == ["\u00e9\u00e9.jpg"]
    assert scan.categories["names"] == ["2"]
    assert scan.boxes.tolist() == [[1.0, 2.5, 3.0, 0.4]]
    assert np.signbit(scan.values[0]) and scan.iscrowd.tolist() == [False]
    assert scan.images["widths"].tolist() == [3] and scan.ids.tolist() == [9]
