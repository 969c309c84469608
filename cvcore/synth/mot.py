"""Synthetic MOTChallenge sequences in MOT17's layout.

``make_mot(out)`` writes, per sequence, ``out/MOT17/train/<SEQ>/`` with ``seqinfo.ini``,
``img1/000001.jpg ...``, ``gt/gt.txt`` (frame, id, x, y, w, h, flag, class, visibility) and
``det/det.txt`` (frame, -1, x, y, w, h, score, -1, -1, -1), coordinates 1-based as MOTChallenge.

Pedestrians (class 1, flag 1) walk with smooth, slowly turning velocities, cross and occlude each
other; visibility is the fraction of a box not covered by boxes nearer the camera (lower bottom
edge). Distractors like MOT17's are mixed in (class 2 person on vehicle, 7 static person,
8 distractor, 12 reflection, with flag 0), plus pedestrians with flag 0. Detections have box
noise, misses that grow with occlusion, low scores for occluded people (ByteTrack's second
association matters) and false positives.

``pan`` (pixels per frame, 0 = fixed camera) films the scene with a camera that sways left and
right (horizontal speed ``pan * cos(2 pi f / 24)``, a quarter of it vertically) over a textured
background: boxes and frames move with the camera, so a tracker that compensates camera motion
(BoT-SORT's CMC) has the advantage. The camera's integer pixel offsets per frame are written
to ``camera.txt`` (frame, dx, dy: image = world - offset).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import write_text
from . import save_image

DISTRACTOR_CLASSES = (2, 7, 8, 12)


def _visibility(boxes):
    """Fraction of each xywh box not covered by boxes whose bottom edge is lower (nearer)."""
    n = len(boxes)
    vis = np.ones(n)
    for i in range(n):
        x, y, w, h = boxes[i]
        covered = np.zeros((max(int(h), 1), max(int(w), 1)), bool)
        for j in range(n):
            if j == i or boxes[j, 1] + boxes[j, 3] <= y + h:
                continue
            x0 = int(np.clip(boxes[j, 0] - x, 0, w))
            x1 = int(np.clip(boxes[j, 0] + boxes[j, 2] - x, 0, w))
            y0 = int(np.clip(boxes[j, 1] - y, 0, h))
            y1 = int(np.clip(boxes[j, 1] + boxes[j, 3] - y, 0, h))
            covered[y0:y1, x0:x1] = True
        vis[i] = 1.0 - covered.mean()
    return vis


def _simulate(rng, frames, width, height, n_people):
    """Tracks as rows (frame, id, x, y, w, h, class) for people and a few distractors."""
    rows = []
    for pid in range(1, n_people + 1):
        h = rng.uniform(0.25, 0.6) * height
        w = h * rng.uniform(0.35, 0.45)
        start = int(rng.integers(1, max(2, frames // 2)))
        length = int(rng.integers(max(1, frames // 3), max(2, frames)))
        x, y = rng.uniform(0, width - w), rng.uniform(0.3 * height, height - h)
        vx, vy = rng.normal(0, 2.5), rng.normal(0, 0.4)
        for f in range(start, min(frames, start + length) + 1):
            vx = 0.95 * vx + rng.normal(0, 0.3)
            vy = 0.9 * vy + rng.normal(0, 0.1)
            x, y = x + vx, np.clip(y + vy, 0, height - h)
            if x + w < 0 or x > width:  # walked out of the image
                break
            rows.append((f, pid, x, y, w, h, 1))
    for k, cls in enumerate(DISTRACTOR_CLASSES):
        h = rng.uniform(0.2, 0.5) * height
        w = h * 0.4
        x, y = rng.uniform(0, width - w), rng.uniform(0.2 * height, height - h)
        vx = 0.0 if cls == 7 else rng.normal(0, 2.0)
        for f in range(1, frames + 1):
            rows.append((f, n_people + 1 + k, x + vx * f, y, w, h, cls))
    return np.array(rows, float)


def _gt_rows(rng, tracks, frames):
    """MOT gt rows with flags and visibilities (1-based coordinates)."""
    out = []
    for f in range(1, frames + 1):
        t = tracks[tracks[:, 0] == f]
        if len(t) == 0:
            continue
        vis = _visibility(t[:, 2:6])
        flag = (t[:, 6] == 1).astype(float)
        flag[(t[:, 6] == 1) & (rng.random(len(t)) < 0.03)] = 0  # a few ignored pedestrians
        out.append(np.column_stack([t[:, :2], t[:, 2:6] + 1, flag, t[:, 6], vis]))
    return np.concatenate(out)


def _det_rows(rng, gt, frames, width, height):
    """Public detections: noisy boxes of pedestrians and distractors, misses, false positives."""
    keep_p = np.clip(gt[:, 8] * 1.1, 0, 0.97)
    detected = (rng.random(len(gt)) < keep_p) & np.isin(gt[:, 7], (1, 2, 7))
    g = gt[detected]
    noise = rng.normal(0, 0.05, (len(g), 4)) * g[:, [4, 5, 4, 5]]
    boxes = g[:, 2:6] + noise
    boxes[:, 2:] = np.maximum(boxes[:, 2:], 4)
    # Occluded people get low scores: ByteTrack recovers them in its second association.
    score = np.clip(0.35 + 0.6 * g[:, 8] + rng.normal(0, 0.1, len(g)), 0.05, 1.0)
    n_fp = rng.poisson(1.5 * frames)
    fp_frames = rng.integers(1, frames + 1, n_fp)
    fh = rng.uniform(0.15, 0.5, n_fp) * height
    fp = np.column_stack([rng.uniform(0, width, n_fp), rng.uniform(0, height * 0.6, n_fp),
                          fh * 0.4, fh])
    fp_score = rng.uniform(0.05, 0.6, n_fp)
    frame = np.concatenate([g[:, 0], fp_frames])
    rows = np.column_stack([frame, -np.ones(len(frame)), np.concatenate([boxes, fp]),
                            np.concatenate([score, fp_score]), -np.ones((len(frame), 3))])
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _draw_frame(background, gt_frame, colours):
    """People as coloured figures, drawn far to near so nearer ones occlude."""
    image = Image.fromarray(background.copy())
    draw = ImageDraw.Draw(image)
    for _, pid, x, y, w, h, *_ in sorted(gt_frame, key=lambda r: r[3] + r[5]):
        x, y = x - 1, y - 1
        c = tuple(int(v) for v in colours[int(pid) % len(colours)])
        draw.ellipse([x + 0.3 * w, y, x + 0.7 * w, y + 0.25 * h], fill=(230, 190, 160))
        draw.rectangle([x, y + 0.25 * h, x + w, y + 0.65 * h], fill=c)
        draw.rectangle([x + 0.1 * w, y + 0.65 * h, x + 0.9 * w, y + h], fill=(40, 40, 70))
    return image


PAN_PERIOD = 24  # frames per left-right sway of a panning camera


def camera_offsets(frames: int, pan: float) -> np.ndarray:
    """Integer camera offsets [frames + 1, 2] (dx, dy) per frame (row f; row 0 unused): a
    sway of peak speed ``pan`` px/frame horizontally and pan / 4 vertically."""
    f = np.arange(frames + 1)
    amplitude = pan * PAN_PERIOD / (2 * np.pi)
    phase = np.sin(2 * np.pi * f / PAN_PERIOD)
    return np.round(np.column_stack([amplitude * phase, 0.25 * amplitude * phase])).astype(int)


def _pan_rows(tracks, offsets, width, height):
    """World tracks to image coordinates (minus the frame's camera offset), dropping boxes
    entirely outside the image."""
    out = tracks.copy()
    out[:, 2:4] -= offsets[out[:, 0].astype(int)]
    inside = ((out[:, 2] + out[:, 4] > 0) & (out[:, 2] < width) & (out[:, 3] + out[:, 5] > 0)
              & (out[:, 3] < height))
    return out[inside]


def _textured_background(rng, width, height):
    """A background with corners to track: sky, ground, and random blocks and stripes."""
    image = Image.new("RGB", (width, height), (120, 130, 110))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width, height // 3], fill=(170, 190, 210))
    for _ in range(width * height // 2500):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(5, 40, 2)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.rectangle([x, y, x + w, y + h], fill=colour)
    return np.asarray(image)


def _write_rows(path, rows, int_cols):
    lines = (",".join(str(int(v)) if i in int_cols else f"{v:.2f}" for i, v in enumerate(r))
             for r in rows)
    write_text(path, "".join(line + "\n" for line in lines))


def make_mot(out: str | os.PathLike, seed: int = 0,
             seqs: tuple[str, ...] = ("MOT17-02-SDP", "MOT17-04-SDP"), frames: int = 60,
             size: tuple[int, int] = (480, 270), write_images: bool = True,
             pan: float = 0.0) -> Path:
    """Write the synthetic sequences under ``out/MOT17/train`` and return ``out``; ``pan``
    (px/frame) films them with a swaying camera (module docstring)."""
    out = Path(out)
    width, height = size
    offsets = camera_offsets(frames, pan)
    margin = np.abs(offsets).max(0)
    for s, name in enumerate(seqs):
        rng = np.random.default_rng([seed, s])
        seq_dir = out / "MOT17" / "train" / name
        write_text(seq_dir / "seqinfo.ini",
                   f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={frames}\n"
                   f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n")
        tracks = _simulate(rng, frames, width, height, n_people=int(rng.integers(10, 16)))
        if pan:
            tracks = _pan_rows(tracks, offsets, width, height)
            write_text(seq_dir / "camera.txt", "".join(f"{f},{dx},{dy}\n" for f, (dx, dy)
                                                       in enumerate(offsets[1:], start=1)))
        gt = _gt_rows(rng, tracks, frames)
        _write_rows(seq_dir / "gt" / "gt.txt", gt, int_cols={0, 1, 6, 7})
        det = _det_rows(rng, gt, frames, width, height)
        _write_rows(seq_dir / "det" / "det.txt", det, int_cols={0, 1, 7, 8, 9})
        if write_images and pan:
            world = _textured_background(rng, width + 2 * margin[0], height + 2 * margin[1])
            colours = rng.integers(40, 255, (64, 3))
            for f in range(1, frames + 1):
                x0, y0 = margin + offsets[f]
                view = np.ascontiguousarray(world[y0:y0 + height, x0:x0 + width])
                save_image(_draw_frame(view, gt[gt[:, 0] == f], colours),
                           seq_dir / "img1" / f"{f:06d}.jpg", quality=85)
        elif write_images:
            background = np.full((height, width, 3), (120, 130, 110), np.uint8)
            background[: height // 3] = (170, 190, 210)
            background = np.clip(background + rng.normal(0, 8, background.shape), 0, 255)
            colours = rng.integers(40, 255, (64, 3))
            for f in range(1, frames + 1):
                save_image(_draw_frame(background.astype(np.uint8), gt[gt[:, 0] == f], colours),
                           seq_dir / "img1" / f"{f:06d}.jpg", quality=85)
    return out
