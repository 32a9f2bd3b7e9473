"""Milliseconds per aligned face of the offline 68-point landmarks (face-api.js net, multi-pass recipe), CPU.

    python benchmarks/bench_landmarks.py [--faces 32] [--batch 16] [--passes 3]

The face is scikit-image's astronaut aligned to the 512 template (RetinaFace + alignment, as
generate_test_faces.py does). After one untimed call (graph tracing), times ``--faces`` faces one at a
time, then in batches of ``--batch``, and prints the medians of three runs. Goal: under 100 ms a face.
On upstream DMDNet's 117 reference faces, tools/measure_landmarks.py also times them and measures the
accuracy against FAN.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import metaf2n_tf  # noqa: E402,F401  (imports TensorFlow quietly)
from absl import flags  # noqa: E402
from skimage import data  # noqa: E402

from metaf2n_tf.cli import parse_flags  # noqa: E402
from metaf2n_tf.errors import MetaF2NError  # noqa: E402
from metaf2n_tf.faces import align, detect  # noqa: E402
from metaf2n_tf.faces.landmarks import LandmarkDetector  # noqa: E402

PROGRAM = "bench_landmarks.py"


def define_flags():
    fv = flags.FlagValues()
    flags.DEFINE_integer("faces", 32, "faces timed per run", flag_values=fv)
    flags.DEFINE_integer("batch", 16, "batch size of the batched runs", flag_values=fv)
    flags.DEFINE_integer("passes", 3, "passes of the net per face", flag_values=fv)
    return fv


def bench(faces, batch, passes):
    """{'one at a time': ms per face, 'batches of N': ms per face} (medians of three runs)."""
    photo = data.astronaut()
    [face] = detect.detect_faces(photo, 0.9)
    aligned = align.warp_to_face(photo, align.estimate_alignment(face.landmarks))
    detector = LandmarkDetector(passes)
    detector.detect_batch([aligned] * batch)
    detector.detect_batch([aligned])

    def run(size):
        start = time.perf_counter()
        for _ in range(0, faces, size):
            detector.detect_batch([aligned] * size)
        return 1000 * (time.perf_counter() - start) / (faces // size * size)

    return {"one at a time": statistics.median(run(1) for _ in range(3)),
            f"batches of {batch}": statistics.median(run(batch) for _ in range(3))}


def main(argv=None) -> int:
    try:
        fv = parse_flags(define_flags(), sys.argv[1:] if argv is None else argv, PROGRAM)
        figures = bench(fv.faces, fv.batch, fv.passes)
    except MetaF2NError as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    for name, ms in figures.items():
        print(f"{PROGRAM}: {ms:.1f} ms per face, {name} ({fv.passes} passes, CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
