"""JPEG compression artefacts: a libjpeg round trip of 8-bit images."""
import tensorflow as tf


def jpeg(images, quality):
    """JPEG round trip through libjpeg (``tf.io``): 8-bit RGB in, 4:2:0, quality rounded to an integer.

    Stands in for BasicSR's DiffJPEG, which quantises the float image's DCT with the same tables
    scaled by the same quality rule but without 8-bit input or integer quality.
    """
    q = tf.cast(tf.clip_by_value(tf.round(quality), 1.0, 100.0), tf.int32)
    codes = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)

    def round_trip(image):
        data = tf.raw_ops.EncodeJpegVariableQuality(images=image, quality=q)
        return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")

    out = tf.map_fn(round_trip, codes, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    return tf.cast(out, tf.float32) / 255.0
