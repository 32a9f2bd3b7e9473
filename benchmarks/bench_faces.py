"""Face detection speed of the offline RetinaFace graph, in milliseconds per megapixel, plus pair making.

    .venv/bin/python benchmarks/bench_faces.py [--sizes 256,512,1024,1500,2048] [--repeats 5] [--backend auto]

The astronaut photo is resized to each square size; photos over 1500 px are detected at 1000 px (as in
the original), so their cost per megapixel of the photo drops. One warm-up call per size is not timed.
"""
import sys
import time

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
import numpy as np
from absl import flags
from skimage import data

from metaf2n_tf.faces import detect, pairs, restore


def define_flags():
    fv = flags.FlagValues()
    flags.DEFINE_list("sizes", ["256", "512", "1024", "1500", "2048"], "square photo sizes", flag_values=fv)
    flags.DEFINE_integer("repeats", 5, "timed calls per size", flag_values=fv)
    flags.DEFINE_enum("backend", "auto", list(detect.BACKENDS), "detection engine (as generate_test_faces.py)",
                      flag_values=fv)
    return fv


def best_ms(fn, repeats):
    """Fastest of ``repeats`` calls of ``fn``, in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def bench_detection(sizes, repeats, backend="auto"):
    """Prints one line per size; returns ms per megapixel of each size detected at full resolution."""
    photo = data.astronaut()
    detector = detect.default_detector(backend)
    print(f"detection engine: {detector.backend}")
    per_mp = []
    for size in sizes:
        image = cv2.resize(photo, (size, size), interpolation=cv2.INTER_CUBIC)
        ms = best_ms(lambda: detector.detect(image), repeats)
        faces = len(detector.detect(image))
        detected_at = detect.detection_size(size, size)[0]
        megapixels = size * size / 1e6
        print(f"detect {size}x{size} (at {detected_at}): {ms:8.1f} ms  {ms / megapixels:7.1f} ms/MP  faces={faces}")
        if detected_at == size:
            per_mp.append(ms / megapixels)
    return per_mp


def bench_pairs(repeats):
    """Time to make the gt and none pairs of the astronaut's face (128 px LQ, 512 px GT)."""
    gt = data.astronaut()
    lq = cv2.resize(gt, (128, 128), interpolation=cv2.INTER_AREA)
    faces = detect.detect_faces(lq)
    for name in ("gt", "none"):
        restorer = restore.GroundTruthRestorer() if name == "gt" else restore.restorer_by_name(name)
        ms = best_ms(lambda: pairs.make_face_pairs(lq, faces, restorer, gt), repeats)
        print(f"pairs --restorer {name}: {ms:.2f} ms per photo ({len(faces)} face)")


def main(argv=None) -> int:
    fv = define_flags()
    try:
        fv(["bench_faces.py"] + list(sys.argv[1:] if argv is None else argv))
        sizes = [int(s) for s in fv.sizes]
    except (flags.Error, ValueError) as e:
        print(f"bench_faces.py: {e}", file=sys.stderr)
        return 2
    per_mp = bench_detection(sizes, fv.repeats, fv.backend)
    if per_mp:
        print(f"detection: {np.median(per_mp):.1f} ms per megapixel (median over sizes detected at full resolution)")
    bench_pairs(fv.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
