"""Training-data faults: truncated or corrupt shards, records of the wrong size or dtype, an empty glob.

The shards are built here record by record (image i is filled with the value i), so the bad record indices
and the images that must survive ``--skip_bad_records`` are known without the code under test.
"""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from config import DataConfig
from metaf2n_tf.data import pipeline, records
from metaf2n_tf.errors import InputError
from metaf2n_tf.train import loop

SIZE = 4


def image(i, size=SIZE):
    return np.full((size, size, 3), i, np.uint8)


def float_record():
    values = tf.train.FloatList(value=[0.5] * (SIZE * SIZE * 3))
    return tf.train.Example(features=tf.train.Features(feature={"label": tf.train.Feature(float_list=values)}))


def write_shard(path, serialized):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for s in serialized:
            writer.write(s)
    return path


@pytest.fixture
def shards(tmp_path):
    good = [records.encode(image(i)) for i in range(5)]
    write_shard(tmp_path / "good-0.tfrecord", good)
    odd = [records.encode(image(10)), records.encode(image(11, SIZE + 1)), records.encode(image(12)),
           float_record().SerializeToString(), records.encode(image(14))]
    write_shard(tmp_path / "odd-0.tfrecord", odd)
    data = (tmp_path / "good-0.tfrecord").read_bytes()
    (tmp_path / "cut-0.tfrecord").write_bytes(data[:len(data) * 3 // 5 + 7])  # ends inside record 3
    corrupt = bytearray(data)
    record_len = len(data) // 5
    corrupt[2 * record_len + 20] ^= 0xFF  # a pixel byte of record 2: same length, wrong CRC
    (tmp_path / "bad-0.tfrecord").write_bytes(bytes(corrupt))
    return tmp_path


def test_wrong_size_and_dtype_named_by_shard_and_index(shards):
    bad = records.scan(str(shards / "odd-*"), SIZE)
    assert [(b.index, b.reason.split(",")[0]) for b in bad] == [
        (1, "holds 75 bytes"), (3, "'label' holds 48 float_list")]
    assert str(bad[0]) == f"{shards}/odd-0.tfrecord: record 1: holds 75 bytes, expected 4x4x3 = 48 (uint8)"


def test_truncated_shard_named_by_record(shards):
    bad = records.scan(str(shards / "cut-*"), SIZE)
    assert [(b.index, b.reason.split(" ")[0]) for b in bad] == [(3, "truncated")]


def test_corrupt_record_found_by_the_full_scan_only(shards):
    assert records.scan(str(shards / "bad-*"), SIZE) == []  # the cheap check reads lengths only
    bad = records.scan(str(shards / "bad-*"), SIZE, full=True)
    assert [(b.index, b.reason.split(" ")[0]) for b in bad] == [(2, "corrupt")]


def test_check_records_stops_with_one_line_or_counts_skips(shards, capsys):
    data = DataConfig(tfrecord_path0=str(shards / "odd-*"), tfrecord_path1=str(shards / "cut-*"),
                      face_size=SIZE, natural_size=SIZE)
    with pytest.raises(InputError) as e:
        loop.check_records(data)
    message = str(e.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{shards}/odd-0.tfrecord: record 1: holds 75 bytes")
    assert "(and 2 more bad record(s))" in message and "--skip_bad_records" in message
    assert loop.check_records(dataclasses.replace(data, skip_bad_records=True)) == 3
    assert "--skip_bad_records: skipping 3 bad record(s) in 2 shard(s)" in capsys.readouterr().err


def test_skip_bad_records_streams_only_the_good_images(shards):
    def values(pattern, skip):
        stream = pipeline.image_stream(str(shards / pattern), SIZE, seed=0, shuffle_buffer=1, skip_bad_records=skip)
        return {int(x[0, 0, 0]) for x in stream.take(40)}

    assert values("odd-*", True) == {10, 12, 14}
    assert values("cut-*", True) == {0, 1, 2}
    assert values("bad-*", True) == {0, 1}  # a corrupt record ends its shard's readable part
    with pytest.raises(tf.errors.InvalidArgumentError):
        values("odd-*", False)


def test_a_record_failing_during_training_is_named(shards):
    stream = pipeline.image_stream(str(shards / "bad-*"), SIZE, seed=0, shuffle_buffer=1).batch(1)
    data = DataConfig(tfrecord_path0=str(shards / "bad-*"), tfrecord_path1=str(shards / "good-*"),
                      face_size=SIZE, natural_size=SIZE)
    batches = loop.Batches(iter(stream), data)
    with pytest.raises(InputError, match=r"bad-0.tfrecord: record 2: corrupt .*--skip_bad_records"):
        for _ in range(10):
            next(batches)


def test_empty_glob_is_one_line(tmp_path):
    with pytest.raises(InputError, match=r"nothing-\*: no TFRecord file matches"):
        records.scan(str(tmp_path / "nothing-*"), SIZE)
