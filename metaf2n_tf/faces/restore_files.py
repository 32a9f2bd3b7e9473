"""restore_faces.py's work: GPEN on a folder of aligned faces, DMDNet on upstream's list file.

``gpen``: every file of the input folder is an aligned face; each is written to ``OUT/{name}.png``. As
GPEN's ``--aligned`` mode does, a face whose size differs from the network's (512 or 256, read from the
weights) is first resized to it with bilinear ``cv2.resize``; the output stays at the network's size.

``dmdnet``: upstream ``main_test.py``'s list format and outputs. A line with one path restores that face
generically; a line with three tab-separated fields (LQ face, reference image folder, reference
landmark folder; >= 2 references) also restores it with the references' specific dictionary.
Landmarks (``landmarks`` mode, see ``metaf2n_tf.faces.dmdnet.face_landmarks``): ``auto`` reads ``P.txt``
beside an LQ face ``P`` and ``{landmark folder}/{R's file name}.txt`` for a reference ``R`` when the
file exists and detects them offline otherwise; ``detect`` always detects; ``file`` needs the files.
Outputs: ``OUT/{name}_G.png`` = [LQ | generic], or ``OUT/{name}_GS.png`` = [LQ | generic | specific] for
specific lines, ``name`` = the file name up to its first dot (upstream appended a time stamp).
``check`` also writes the LQ face with the landmarks used drawn on it to ``TmpCheckLQLandmarks/``
beside it, as upstream does.

Bad files or lines are reported in one line each (``program: message``) and the run goes on.
"""
import os
import sys

import cv2
import numpy as np
from tqdm import tqdm

from metaf2n_tf.data.images import read_rgb, write_rgb
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError
from metaf2n_tf.faces.restore import network_restorer

CHECK_DIR = "TmpCheckLQLandmarks"


def restore_each(items, restore_one, unit, program):
    """Calls ``restore_one(item)`` for every item with a progress bar; one line per failure.

    Returns (written, failed) counts.
    """
    written = failed = 0
    for item in tqdm(items, desc=program, unit=unit, file=sys.stderr):
        try:
            restore_one(item)
            written += 1
        except MetaF2NError as e:
            tqdm.write(f"{program}: {e}", file=sys.stderr)
            failed += 1
    return written, failed


# ---------------------------------------------------------------- a folder of aligned faces

def list_faces(input_dir):
    """Sorted ``(path, name)`` of the files in ``input_dir``; ConfigError on two files with one name."""
    found, seen = [], {}
    for entry in sorted(os.listdir(input_dir)):
        path = os.path.join(input_dir, entry)
        if not os.path.isfile(path):
            continue
        name = os.path.splitext(entry)[0]
        if name in seen:
            raise ConfigError(f"{path}: same name '{name}' as {seen[name]}; both would write {name}.png")
        seen[name] = entry
        found.append((path, name))
    if not found:
        raise ConfigError(f"{input_dir}: no files in --input_dir")
    return found


def restore_file(restorer, path, out_path):
    """Reads one face, resizes it to the restorer's size if needed, restores it, writes it as PNG."""
    face = read_rgb(path)
    size = restorer.size
    if face.shape[:2] != (size, size):
        face = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
    write_rgb(out_path, restorer.restore_aligned(face))


def restore_folder(restorer, faces, output_dir, program):
    """Restores ``faces`` (from :func:`list_faces`) into ``output_dir``; returns (written, failed)."""
    os.makedirs(output_dir, exist_ok=True)
    return restore_each(
        faces, lambda face: restore_file(restorer, face[0], os.path.join(output_dir, f"{face[1]}.png")), "face",
        program)


# ---------------------------------------------------------------- dmdnet: upstream's list format

def read_face_list(path):
    """Upstream's list: ``[(line number, [fields])]`` of its non-empty lines, fields split at tabs."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the face list ({e})") from None
    entries = [(n, line.strip().split("\t")) for n, line in enumerate(lines, 1) if line.strip()]
    if not entries:
        raise ConfigError(f"{path}: the face list is empty")
    return entries


def reference_dictionary(restorer, image_dir, landmark_dir, landmarks="auto"):
    """The specific dictionary of the faces in ``image_dir``; their landmarks from
    ``{landmark_dir}/{file}.txt`` or detected, as ``landmarks`` says."""
    from metaf2n_tf.faces.dmdnet import MIN_REFERENCES, checked_boxes, face_landmarks, read_face

    folders = (image_dir, landmark_dir) if landmarks == "file" else (image_dir,)
    for folder in folders:
        if not os.path.isdir(folder):
            raise InputError(f"{folder}: reference folder not found")
    names = sorted(e for e in os.listdir(image_dir) if os.path.isfile(os.path.join(image_dir, e)))
    if len(names) < MIN_REFERENCES:
        raise InputError(f"{image_dir}: got {len(names)} reference(s), expected at least {MIN_REFERENCES}")
    paths = [os.path.join(image_dir, name) for name in names]
    faces = [read_face(path) for path in paths]
    found = face_landmarks(faces, paths, [os.path.join(landmark_dir, name + ".txt") for name in names], landmarks)
    refs = [(face, checked_boxes(points, face, source)) for face, (points, source) in zip(faces, found)]
    return restorer.specific_dictionary(refs)


def restore_list_entry(restorer, fields, out_path, check=False, source="list", landmarks="auto"):
    """Restores one list line (1 field: generic; 3 fields: generic and specific); returns the file written."""
    from metaf2n_tf.faces.dmdnet import checked_boxes, draw_landmarks, face_landmarks, read_face

    if len(fields) not in (1, 3):
        raise InputError(f"{source}: got {len(fields)} tab-separated fields, expected 1 (LQ face) or 3 "
                         "(LQ face, reference image dir, reference landmark dir)")
    lq_path = fields[0]
    face = read_face(lq_path)
    [(points, points_source)] = face_landmarks([face], [lq_path], [lq_path + ".txt"], landmarks)
    if check:
        folder = os.path.join(os.path.dirname(lq_path), CHECK_DIR)
        os.makedirs(folder, exist_ok=True)
        write_rgb(os.path.join(folder, os.path.basename(lq_path)), draw_landmarks(face, points))
    boxes = checked_boxes(points, face, points_source)
    specific = reference_dictionary(restorer, fields[1], fields[2], landmarks) if len(fields) == 3 else None
    generic, special = restorer.restore(face, boxes, specific)
    name = os.path.basename(lq_path).split(".")[0]
    images = [face, generic] + ([special] if special is not None else [])
    out_file = os.path.join(out_path, f"{name}_{'GS' if special is not None else 'G'}.png")
    write_rgb(out_file, np.hstack(images))
    return out_file


def restore_list(restorer, entries, out_path, program, list_name="list", check=False, landmarks="auto"):
    """Restores the lines of a face list (from :func:`read_face_list`) into ``out_path``; returns
    (written, failed) counts."""
    os.makedirs(out_path, exist_ok=True)
    return restore_each(entries, lambda entry: restore_list_entry(
        restorer, entry[1], out_path, check, f"{list_name} line {entry[0]}", landmarks), "face", program)


# ---------------------------------------------------------------- the one entry point

def restore_faces(restorer, weights, *, input_dir=None, output_dir=None, img_list=None, out_path=None,
                  check=False, landmarks="auto", save_weights=None, program="restore_faces.py"):
    """Lists the inputs, loads the restorer, restores everything; returns (written, failed) counts.

    Args:
      restorer: ``gpen`` (``input_dir`` -> ``output_dir``) or ``dmdnet`` (``img_list`` -> ``out_path``,
        with ``check`` and ``landmarks``: ``auto``, ``detect`` or ``file``).
      weights: the restorer's weights (upstream ``.pth`` or converted ``.h5``).
      save_weights: also write the loaded weights here in the project's ``.h5`` format.
      program: the name that starts each per-file error line.
    """
    if restorer == "dmdnet":
        items = read_face_list(img_list)  # bad inputs fail before the weights are loaded
    else:
        items = list_faces(input_dir)
    net = network_restorer(restorer, weights)
    if save_weights:
        net.save_weights(save_weights)
    if restorer == "dmdnet":
        return restore_list(net, items, out_path, program, img_list, check, landmarks)
    return restore_folder(net, items, output_dir, program)
