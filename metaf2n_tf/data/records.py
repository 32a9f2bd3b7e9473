"""The training records: one ``tf.train.Example`` per image, feature ``label`` = raw HWC uint8 RGB bytes.

MetaF2N's format: no shape key, the reader knows the size (256 for ``whole_face``,
400 for ``back400``). Writing: ``ShardWriter``, ``write_faces``, ``write_patches``; reading: ``files``,
``check``, ``decode``. Augmentation lives in ``pipeline``.
"""
import dataclasses
import glob
import os
import struct

import cv2
import numpy as np
import tensorflow as tf

from metaf2n_tf.data.images import IMAGE_EXTENSIONS, is_image_name, read_rgb
from metaf2n_tf.errors import InputError, MetaF2NError

FEATURE = "label"
FACE_PREFIX = "whole_face"


def patch_prefix(patch_size):
    """Shard prefix of natural patches: ``back400`` for the original's 400 x 400 crops."""
    return f"back{patch_size}"


def encode(image):
    """Serialized Example of an RGB uint8 [H, W, 3] image (raw bytes, row-major HWC)."""
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"record image: got {image.dtype} {image.shape}, expected uint8 [H, W, 3]")
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()]))
    return tf.train.Example(features=tf.train.Features(feature={FEATURE: feature})).SerializeToString()


def decode(serialized, size):
    """Serialized Example -> uint8 [size, size, 3] (graph op, for ``tf.data`` maps)."""
    features = tf.io.parse_single_example(serialized, {FEATURE: tf.io.FixedLenFeature([], tf.string)})
    return tf.reshape(tf.io.decode_raw(features[FEATURE], tf.uint8), [size, size, 3])


def files(pattern):
    """A TFRecord file or a glob of shards -> sorted paths; none is an InputError."""
    pattern = os.fspath(pattern)
    if os.path.isfile(pattern):
        return [pattern]
    paths = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    if not paths:
        raise InputError(f"{pattern}: no TFRecord file matches, expected a file or a glob of shards "
                         f"(see tfrecords/README.md)")
    return paths


def check(path, size):
    """Raises InputError unless the first record of ``path`` holds a size x size x 3 image."""
    try:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        if first is None:
            raise InputError(f"{path}: holds no records, expected images of {size}x{size}x3")
        features = tf.io.parse_single_example(first, {FEATURE: tf.io.FixedLenFeature([], tf.string, b"")})
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        reason = e.message.splitlines()[0]
        raise InputError(f"{path}: not a TFRecord file of '{FEATURE}' images ({reason})") from None
    got = len(features[FEATURE].numpy())
    if got != size * size * 3:
        raise InputError(f"{path}: first record holds {got} bytes, expected {size}x{size}x3 = {size * size * 3}")


# TFRecord framing: uint64 length, uint32 masked CRC of the length, the record, uint32 masked CRC of the record.
_FRAME_HEAD, _FRAME_TAIL = 12, 4


def record_problem(raw, size):
    """Why a serialized record is not a size x size x 3 uint8 image Example, or None when it is one."""
    try:
        example = tf.train.Example.FromString(raw)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        return "not a tf.train.Example"
    feature = example.features.feature.get(FEATURE)
    if feature is None:
        return f"no '{FEATURE}' feature"
    kind = feature.WhichOneof("kind")
    if kind != "bytes_list" or len(feature.bytes_list.value) != 1:
        count = len(getattr(feature, kind).value) if kind else 0
        return f"'{FEATURE}' holds {count} {kind or 'values'}, expected one bytes value (raw uint8 pixels)"
    got = len(feature.bytes_list.value[0])
    if got != size * size * 3:
        return f"holds {got} bytes, expected {size}x{size}x3 = {size * size * 3} (uint8)"
    return None


def _frames(path):
    """(offsets and lengths of the records, index of a truncated last record or None) from the framing alone."""
    frames, total = [], os.path.getsize(path)
    with open(path, "rb") as f:
        offset = 0
        while offset < total:
            head = f.read(_FRAME_HEAD)
            if len(head) < _FRAME_HEAD:
                return frames, len(frames)
            (length,) = struct.unpack("<Q", head[:8])
            end = offset + _FRAME_HEAD + length + _FRAME_TAIL
            if end > total:
                return frames, len(frames)
            frames.append((offset + _FRAME_HEAD, length))
            f.seek(end)
            offset = end
    return frames, None


def shard_problems(path, size, full=False):
    """``[(record index, reason)]`` of the bad records of one shard.

    Cheap by default: the framing is walked (a truncated shard is found) and only records whose length
    differs from a good record's are read and parsed (wrong size or dtype). ``full`` also reads every
    record through TensorFlow, which checks each record's CRC (corrupt bytes).
    """
    try:
        frames, truncated = _frames(path)
    except OSError as e:
        return [(0, f"cannot read the shard ({e.strerror or e})")]
    expected = len(encode(np.zeros((size, size, 3), np.uint8)))
    problems = []
    with open(path, "rb") as f:
        for index, (offset, length) in enumerate(frames):
            if length != expected:
                f.seek(offset)
                reason = record_problem(f.read(length), size)
                if reason:
                    problems.append((index, reason))
    if full:
        count = 0
        try:
            for _ in tf.data.TFRecordDataset(path):
                count += 1
        except tf.errors.OpError as e:
            problems.append((count, f"corrupt (TensorFlow: {e.message.splitlines()[0][:80]}); the rest of the shard "
                                    "is unreadable"))
    if truncated is not None:
        problems.append((truncated, "truncated (the file ends inside this record); it is lost"))
    return sorted(set(problems))


@dataclasses.dataclass
class BadRecord:
    shard: str
    index: int
    reason: str

    def __str__(self):
        return f"{self.shard}: record {self.index}: {self.reason}"


def scan(pattern, size, full=False):
    """The bad records (:class:`BadRecord`) of every shard of ``pattern`` (see ``shard_problems``)."""
    return [BadRecord(path, index, reason) for path in files(pattern)
            for index, reason in shard_problems(path, size, full)]


def shard_name(prefix, index, count):
    """``{prefix}-00000-of-00003.tfrecord``."""
    return f"{prefix}-{index:05d}-of-{count:05d}.tfrecord"


class ShardWriter:
    """Writes records into shards of ``shard_size``; ``close`` names them ``-of-N`` and drops stale shards.

    Shards are written as ``.partial`` files first, so an interrupted run leaves no complete-looking set.
    """

    def __init__(self, output_dir, prefix, shard_size):
        self.output_dir, self.prefix, self.shard_size = output_dir, prefix, shard_size
        self.partials, self.count, self._writer = [], 0, None
        try:
            os.makedirs(output_dir, exist_ok=True)
        except OSError as e:
            raise InputError(f"{output_dir}: cannot create the output folder ({e.strerror})") from None

    def write(self, serialized):
        """Appends one serialized Example."""
        if self.count % self.shard_size == 0:
            self._close_writer()
            path = os.path.join(self.output_dir, f"{self.prefix}-{len(self.partials):05d}.partial")
            self.partials.append(path)
            self._writer = tf.io.TFRecordWriter(path)
        self._writer.write(serialized)
        self.count += 1

    def _close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self):
        """Finishes the shards; returns their final paths (none when nothing was written)."""
        self._close_writer()
        final = [os.path.join(self.output_dir, shard_name(self.prefix, i, len(self.partials)))
                 for i in range(len(self.partials))]
        for stale in glob.glob(os.path.join(self.output_dir, f"{self.prefix}-*-of-*.tfrecord")):
            if stale not in final:
                os.remove(stale)
        for partial, path in zip(self.partials, final):
            os.replace(partial, path)
        return final

    def abort(self):
        """Removes what was written."""
        self._close_writer()
        for path in self.partials:
            if os.path.exists(path):
                os.remove(path)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            self.abort()


def image_files(folder):
    """Image files under ``folder`` (any depth), sorted; a missing folder is an InputError."""
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: folder not found")
    paths = [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
             if is_image_name(name)]
    if not paths:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
    return sorted(paths)


def square_face(image, size):
    """([face], resized): the face itself if size x size, else resized to it with INTER_AREA."""
    if image.shape[:2] == (size, size):
        return [image], False
    return [cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)], True


def grid_crops(image, patch_size, stride):
    """Every patch_size square whose top-left corner is on the stride grid from (0, 0) and that lies inside."""
    height, width = image.shape[:2]
    return [image[i:i + patch_size, j:j + patch_size]
            for i in range(0, height - patch_size + 1, stride)
            for j in range(0, width - patch_size + 1, stride)]


@dataclasses.dataclass
class Summary:
    """What one ``write_*`` call did."""

    kind: str  # shard prefix
    images: int = 0  # images read
    records: int = 0
    adjusted: int = 0  # faces resized / natural images too small for a patch
    skipped: list = dataclasses.field(default_factory=list)  # one line per unreadable file
    shards: list = dataclasses.field(default_factory=list)


def _write(paths, output_dir, prefix, shard_size, to_records, warn):
    """Reads each image and writes the images of ``to_records(image) -> (images, adjusted)``."""
    summary = Summary(prefix)
    with ShardWriter(output_dir, prefix, shard_size) as writer:
        for path in paths:
            try:
                image = read_rgb(path)
            except MetaF2NError as e:
                summary.skipped.append(str(e))
                warn(f"skipped {e}")
                continue
            summary.images += 1
            crops, adjusted = to_records(image)
            summary.adjusted += int(adjusted)
            for crop in crops:
                writer.write(encode(crop))
                summary.records += 1
        summary.shards = writer.close()
    return summary


def write_faces(paths, output_dir, face_size=256, shard_size=1000, warn=print):
    """One ``whole_face`` record per face image; faces not face_size square are resized (``adjusted``)."""
    return _write(paths, output_dir, FACE_PREFIX, shard_size, lambda image: square_face(image, face_size), warn)


def write_patches(paths, output_dir, patch_size=400, stride=200, shard_size=1000, warn=print):
    """``back{patch_size}`` records: every grid crop inside each image; images without one count as ``adjusted``."""
    def to_records(image):
        crops = grid_crops(image, patch_size, stride)
        return crops, not crops

    return _write(paths, output_dir, patch_prefix(patch_size), shard_size, to_records, warn)
