"""Test face pairs for test.py (MetaF2N's generate_test_faces.py): detect, align, restore, save.

    python generate_test_faces.py --input_dir LQ --output_dir OUT --restorer gt --gt_dir GT

For every photo in ``--input_dir``: RetinaFace finds the faces; each face is cropped at its box into
``OUT/Face_LQ/{name}_{i}.png`` and the same box at 4x of the restorer's canvas into
``OUT/Face_HQ/{name}_{i}.png``; ``OUT/faces.json`` records every face (box, score, landmarks, affine
matrices) and every photo without faces or with errors. ``--restorer``: ``gt`` (ground-truth photos,
synthetic sets), ``none`` (bicubic x4), ``gpen`` / ``dmdnet`` (user-supplied weights; ``gpen`` is the
original's; ``dmdnet`` detects the 68 landmarks of every aligned face offline, or takes one landmark
file of the aligned 512 template frame for all faces with ``--dmdnet_landmarks``). Bad photos are
reported in one line each and the run goes on; the exit status is 1 then.
"""
import os
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags
from tqdm import tqdm

from metaf2n_tf.data.images import DEFAULT_MAX_PIXELS, read_rgb, set_max_pixels
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.cli import define_gpu, define_max_pixels
from metaf2n_tf.cli import parse_flags as parse_flags_into
from metaf2n_tf.cli import run_main
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError
from metaf2n_tf.faces import align, detect, pairs, restore

PROGRAM = "generate_test_faces.py"


def define_flags():
    """The script's flags on a fresh FlagValues (the original's two, then this port's)."""
    fv = flags.FlagValues()
    flags.DEFINE_string("input_dir", "./datasets/RealFaces200/LQ", "folder of LQ photos", flag_values=fv)
    flags.DEFINE_string("output_dir", "./datasets/RealFaces200",
                        "Face_LQ/, Face_HQ/ and faces.json are written here", flag_values=fv)
    flags.DEFINE_enum("restorer", "gpen", list(restore.RESTORERS),
                      "HQ faces from: gt (--gt_dir photos), none (bicubic x4), gpen or dmdnet (weights)",
                      flag_values=fv)
    flags.DEFINE_string("gt_dir", None, "ground-truth photos (4x the LQ ones, same names) for --restorer gt",
                        flag_values=fv)
    flags.DEFINE_string("gpen_weights", None, "GPEN-BFR-512 weights for --restorer gpen", flag_values=fv)
    flags.DEFINE_string("dmdnet_weights", None, "DMDNet weights for --restorer dmdnet", flag_values=fv)
    flags.DEFINE_string("dmdnet_landmarks", None,
                        "--restorer dmdnet: 68 landmarks ('x y' lines) of the aligned 512 face, used for every "
                        "face instead of detecting each face's own",
                        flag_values=fv)
    flags.DEFINE_float("score_threshold", 0.9, "minimum face score, in [0.5, 1]", flag_values=fv)
    flags.DEFINE_enum("backend", "auto", list(detect.BACKENDS),
                      "face detection engine: auto (OpenVINO on CPU, TensorFlow on a GPU), tf, or openvino",
                      flag_values=fv)
    define_gpu(fv)
    define_max_pixels(fv, DEFAULT_MAX_PIXELS)
    return fv


def parse_flags(argv):
    """argv without the program name -> parsed FlagValues; ConfigError on bad flags."""
    fv = parse_flags_into(define_flags(), argv, PROGRAM)
    detect.check_score_threshold(fv.score_threshold)
    return fv


def list_photos(input_dir):
    """Sorted files of ``input_dir``; ConfigError when it is not a folder."""
    if not os.path.isdir(input_dir):
        raise ConfigError(f"{input_dir}: --input_dir not found (expected a folder of LQ photos)")
    return sorted(os.path.join(input_dir, e) for e in os.listdir(input_dir)
                  if os.path.isfile(os.path.join(input_dir, e)))


def process_photo(path, name, restorer, output_dir, score_threshold, backend="auto", gpu=""):
    """Detects, pairs and writes the faces of one photo; returns its ``faces.json`` entry.

    ``backend``, ``gpu``: the detector's engine (``faces.detect.BACKENDS``) and the ``--gpu`` spec.
    """
    lq = read_rgb(path)
    entry = {"name": name, "file": os.path.basename(path), "height": lq.shape[0], "width": lq.shape[1]}
    faces = detect.detect_faces(lq, score_threshold, backend=backend, gpu=gpu)
    needs_gt = faces and isinstance(restorer, restore.GroundTruthRestorer)
    gt = restorer.read_gt(path, lq.shape) if needs_gt else None
    try:
        face_pairs = pairs.make_face_pairs(lq, faces, restorer, gt)
    except InputError as e:  # e.g. a face where DMDNet's landmarks are implausible: name the photo
        raise InputError(str(e) if path in str(e) else f"{path}: {e}") from None
    entry["faces"] = pairs.write_face_pairs(output_dir, name, face_pairs)
    entry["status"] = "ok" if face_pairs else "no face"
    return entry


def run(fv):
    """Processes every photo of ``--input_dir``; returns the faces.json summary."""
    set_max_pixels(fv.max_pixels)
    weights = {"gpen": fv.gpen_weights, "dmdnet": fv.dmdnet_weights}.get(fv.restorer)
    landmarks = {"dmdnet": fv.dmdnet_landmarks}.get(fv.restorer)
    restorer = restore.restorer_by_name(fv.restorer, gt_dir=fv.gt_dir, weights=weights, landmarks=landmarks)
    photos = list_photos(fv.input_dir)
    detect.default_detector(fv.backend, fv.gpu)  # an explicit backend that cannot run stops here, in one line
    os.makedirs(fv.output_dir, exist_ok=True)
    summary = {
        "restorer": fv.restorer,
        "score_threshold": fv.score_threshold,
        "scale": align.SCALE,
        "aligned_size": getattr(restorer, "size", align.ALIGNED_SIZE),
        "template": align.reference_points(getattr(restorer, "size", align.ALIGNED_SIZE)).round(4).tolist(),
        "detector": f"retinaface {detect.GRAPH_FILE}",
        "images": [],
    }
    seen = {}
    for path in tqdm(photos, desc=PROGRAM, unit="photo", file=sys.stderr):
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            if name in seen:
                raise ConfigError(f"{path}: same name '{name}' as {seen[name]}; its faces would overwrite those")
            seen[name] = os.path.basename(path)
            entry = process_photo(path, name, restorer, fv.output_dir, fv.score_threshold, fv.backend, fv.gpu)
        except MetaF2NError as e:
            tqdm.write(f"{PROGRAM}: {e}", file=sys.stderr)
            entry = {"name": name, "file": os.path.basename(path), "status": "error", "error": str(e), "faces": []}
        if entry["status"] == "no face":
            tqdm.write(f"{PROGRAM}: {path}: no face found (score >= {fv.score_threshold}); skipped", file=sys.stderr)
        summary["images"].append(entry)
    pairs.write_faces_json(fv.output_dir, summary)
    return summary


def main(argv=None) -> int:
    return run_main(PROGRAM, _main, argv)


def _main(argv):
    fv = parse_flags(argv)
    if fv.backend == "tf" or fv.restorer in ("gpen", "dmdnet"):  # TensorFlow will run: choose its devices first
        select_gpus(fv.gpu)
    summary = run(fv)
    statuses = [entry["status"] for entry in summary["images"]]
    count = sum(len(entry["faces"]) for entry in summary["images"])
    print(
        f"{PROGRAM}: wrote {count} face pair(s) of {statuses.count('ok')} photo(s) to {fv.output_dir}; "
        f"{statuses.count('no face')} without faces; {statuses.count('error')} with errors",
        file=sys.stderr,
    )
    return 1 if "error" in statuses else 0


if __name__ == "__main__":
    sys.exit(main())
