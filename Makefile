# Two commands for a newcomer:  `make demo`  and  `make test`.
# Both create .venv/ on first use (Python 3.11, everything pinned in pyproject.toml).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   := data/demo
SEED   := 0

.PHONY: demo test lint bench clean-demo

# PYTHONWARNINGS=ignore hides setuptools' generic advice printed for every editable install.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

$(DEMO)/.done: $(STAMP) cvcore/synth/*.py
	$(PY) -m cvcore.synth classify $(DEMO)/wildlife --seed $(SEED)
	$(PY) -m cvcore.synth camvid $(DEMO)/camvid --seed $(SEED)
	$(PY) -m cvcore.synth coco $(DEMO)/coco --seed $(SEED)
	$(PY) -m cvcore.synth mot $(DEMO)/mot --seed $(SEED)
	$(PY) -m cvcore.synth coco-keypoints $(DEMO)/keypoints --seed $(SEED)
	touch $@

demo: $(DEMO)/.done
	$(PY) detect_eval.py --gt $(DEMO)/coco/annotations/instances_val2017.json \
	    --dets $(DEMO)/coco/predictions.json --out runs/demo/detect
	$(PY) detect_eval.py --iou-type segm --gt $(DEMO)/coco/annotations/instances_val2017.json \
	    --dets $(DEMO)/coco/predictions_segm.json --out runs/demo/detect_segm
	$(PY) -m cvcore.cocoeval $(DEMO)/keypoints/annotations/person_keypoints_val2017.json \
	    $(DEMO)/keypoints/keypoint_predictions.json --iou-type keypoints
	$(PY) train_classify.py --data $(DEMO)/wildlife --model convnet --epochs 4 --img-size 64 \
	    --out runs/demo/classify
	$(PY) train_segment.py --data $(DEMO)/camvid --model segnet --img-size 160 120 --epochs 4 \
	    --out runs/demo/segment
	$(PY) track.py --mot-root $(DEMO)/mot/MOT17 --tracker bytetrack --video --first-frames \
	    --out runs/demo/track/bytetrack
	$(PY) track.py --mot-root $(DEMO)/mot/MOT17 --tracker iou --out runs/demo/track/iou
	@echo
	@echo "Demo data:   $(DEMO)/{wildlife,camvid,coco,mot,keypoints}"
	@echo "Run outputs: runs/demo/{detect,detect_segm,classify,segment,track/bytetrack,track/iou}"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Two pytest-xdist workers: the tests are independent (each writes under its own tmp_path) and
# mostly single-threaded, so two cores halve the wall time of what runs serially.
test: lint
	$(PY) -m pytest -q -n 2

bench: $(STAMP)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[test,bench]"
	for b in cocoeval detect segmetrics track classify segment; do \
	    PYTHONPATH=. $(PY) bench/bench_$$b.py || exit 1; done

clean-demo:
	rm -rf $(DEMO) runs/demo
