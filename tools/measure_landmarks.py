"""Accuracy and speed of the offline 68-point landmarks against upstream DMDNet's FAN landmarks.

    python tools/measure_landmarks.py DMDNET_DIR [--passes 3] [--margin 1.2] [--limit N]

``DMDNET_DIR`` is a checkout of csxmli2016/DMDNet (a work tree, or a bare git directory, read with
``git show HEAD:...``). Its ``TestExamples/TestSpecificRestoration/RefsImg/{id}/{n}.png`` are aligned
512² faces, and ``RefsLandmark/{id}/{n}.png.txt`` their 68 landmarks from the ``face_alignment`` FAN
(integer pixels): the reference here, produced by a different network than the one measured.

For every face, clean and x4-degraded (Gaussian blur sigma 1.5, ``INTER_AREA`` down to 128, Gaussian
noise sigma 5 levels, JPEG quality 70, bicubic back up to 512; noise seeded per face), it prints:

- error: mean point distance to FAN's over the 68 points, divided by the distance between FAN's outer
  eye corners (points 36 and 45), averaged over the faces; also the one-pass figure, for comparison;
- IoU: DMDNet's eye, nose and mouth boxes (``metaf2n_tf.faces.dmdnet.component_boxes``) from the
  detected points against those from FAN's, averaged over faces and the four boxes;
- ms per face: the whole recipe, one face at a time, then in batches of 16 (wall clock; the machine
  may be loaded by other work: say so with the figures).

Nothing of the checkout is copied into this repository.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import metaf2n_tf  # noqa: E402,F401  (imports TensorFlow quietly)
import cv2  # noqa: E402

from metaf2n_tf.faces.dmdnet import component_boxes  # noqa: E402
from metaf2n_tf.faces.landmarks import LandmarkDetector  # noqa: E402

PROGRAM = "measure_landmarks.py"
REFS = "TestExamples/TestSpecificRestoration"


class Checkout:
    """Reads files of a work tree or, failing that, of a bare git directory at HEAD."""

    def __init__(self, root):
        self.root = root
        self.tree = os.path.isdir(os.path.join(root, REFS))

    def names(self):
        if self.tree:
            base = os.path.join(self.root, REFS, "RefsImg")
            return sorted(f"{REFS}/RefsImg/{i}/{n}" for i in os.listdir(base) for n in os.listdir(os.path.join(base, i)))
        out = subprocess.run(["git", "--git-dir", self.root, "ls-tree", "-r", "--name-only", "HEAD", f"{REFS}/RefsImg"],
                             check=True, capture_output=True, text=True).stdout
        return sorted(line for line in out.splitlines() if line.endswith(".png"))

    def read(self, path):
        if self.tree:
            with open(os.path.join(self.root, path), "rb") as f:
                return f.read()
        return subprocess.run(["git", "--git-dir", self.root, "show", f"HEAD:{path}"], check=True,
                              capture_output=True).stdout


def degrade(rgb, seed):
    """Blur, x4 down, noise, JPEG, back up to the input size (see the module docstring)."""
    h, w = rgb.shape[:2]
    x = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.5)
    x = cv2.resize(x, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    x = x + np.random.default_rng(seed).normal(0, 5, x.shape)
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, 70])
    x = cv2.imdecode(jpg, cv2.IMREAD_UNCHANGED)
    return np.clip(cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def box_iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def errors(points, truth):
    """Per-face normalised mean error: [N]."""
    inter_ocular = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    return np.linalg.norm(points - truth, axis=2).mean(axis=1) / inter_ocular


def ious(points, truth):
    """Per-face mean IoU of the four DMDNet component boxes: [N]."""
    return np.array([np.mean([box_iou(a, b) for a, b in zip(component_boxes(p), component_boxes(t))])
                     for p, t in zip(points, truth)])


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.split("\n")[0])
    parser.add_argument("dmdnet_dir")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--margin", type=float, default=1.2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N faces (0: all)")
    args = parser.parse_args(argv)
    checkout = Checkout(args.dmdnet_dir)
    names = checkout.names()[: args.limit or None]
    if not names:
        print(f"{PROGRAM}: {args.dmdnet_dir}: no {REFS}/RefsImg faces found", file=sys.stderr)
        return 2
    faces, truth = [], []
    for name in names:
        bgr = cv2.imdecode(np.frombuffer(checkout.read(name), np.uint8), cv2.IMREAD_COLOR)
        faces.append(np.ascontiguousarray(bgr[..., ::-1]))
        text = checkout.read(name.replace("/RefsImg/", "/RefsLandmark/") + ".txt").decode()
        truth.append(np.array([[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]))
    truth = np.stack(truth)
    degraded = [degrade(face, seed) for seed, face in enumerate(faces)]
    print(f"{len(faces)} faces of {args.dmdnet_dir}; recipe: {args.passes} passes, margin {args.margin}")

    detector, one_pass = LandmarkDetector(args.passes, args.margin), LandmarkDetector(1)
    detector.detect_batch(faces[:1])  # traces the graph
    for label, images in (("clean", faces), ("x4-degraded", degraded)):
        points = detector.detect_batch(images)
        first = one_pass.detect_batch(images)
        e, e1, iou = errors(points, truth), errors(first, truth), ious(points, truth)
        bias = (points - truth).mean(axis=(0, 1))
        print(f"{label:12s} error {e.mean():.4f} (median {np.median(e):.4f}, worst {e.max():.4f}; one pass "
              f"{e1.mean():.4f})  box IoU {iou.mean():.3f} (worst face {iou.min():.3f})  "
              f"mean offset ({bias[0]:+.2f}, {bias[1]:+.2f}) px")

    count = min(len(faces), 32)
    start = time.perf_counter()
    for face in faces[:count]:
        detector.detect_batch([face])
    single = (time.perf_counter() - start) / count
    start = time.perf_counter()
    for i in range(0, count, 16):
        detector.detect_batch(faces[i:i + 16])
    batched = (time.perf_counter() - start) / count
    print(f"speed: {1000 * single:.1f} ms per face one at a time, {1000 * batched:.1f} ms per face in batches "
          f"of 16 ({count} faces, {args.passes} passes, CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
