"""Parity of the Keras GPEN port with the upstream PyTorch GPEN, on the same random weights.

    python tools/check_gpen_parity.py --gpen_dir ../GPEN --torch_python /tmp/torch_venv/bin/python \
        --model GPEN-BFR-512

Needs an upstream checkout (yangxy/GPEN or yinzhicun/MetaF2N: ``face_model/gpen_model.py``) and a
Python with torch (``--torch_python``; default: this interpreter). Where either is missing it says so
and exits 0. Torch never enters this project: the upstream side runs in a child process of that
interpreter, which builds upstream ``FullGenerator`` on CPU, perturbs its zero-initialised
parameters (noise weights, biases) so every path counts, saves the state dict with ``torch.save``
and runs two faces (a photo and uniform noise, [-1, 1]). This side loads that ``.pth`` through the
project's reader and compares. Exit status 1 when the max abs error exceeds ``--tolerance``.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

PROGRAM = "check_gpen_parity.py"
WORKER_FLAG = "--upstream_worker"
MODELS = {
    "GPEN-BFR-512": (512, 2, 1.0),
    "GPEN-BFR-256": (256, 1, 0.5),
    "tiny-64": (64, 1, 1 / 32),
}


def _import_upstream(gpen_dir):
    """Imports upstream ``gpen_model`` (GPEN: ``from op import``; MetaF2N: package-relative ``.op``)."""
    import importlib

    sys.path[:0] = [os.path.join(gpen_dir, "face_model"), gpen_dir]
    try:
        return importlib.import_module("gpen_model")
    except ImportError:
        sys.modules.pop("gpen_model", None)
        return importlib.import_module("face_model.gpen_model")


def upstream_worker(gpen_dir, size, channel_multiplier, narrow, seed, work_dir):
    """Child process (torch interpreter): random upstream FullGenerator -> state.pth, output.npy."""
    import torch

    torch.manual_seed(seed)
    net = _import_upstream(gpen_dir).FullGenerator(size, 512, 8, channel_multiplier, narrow=narrow, device="cpu")
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name.endswith("noise.weight") or name.endswith("bias"):
                param.add_(0.2 * torch.randn_like(param))
    net.eval()
    torch.save(net.state_dict(), os.path.join(work_dir, "state.pth"))
    x = torch.from_numpy(np.load(os.path.join(work_dir, "input.npy"))).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        out = net(x)
    while isinstance(out, (tuple, list)):  # GPEN: (image, latent); MetaF2N: ((image, latent), features)
        out = out[0]
    np.save(os.path.join(work_dir, "output.npy"), out.permute(0, 2, 3, 1).numpy())


def _faces(size, seed):
    """Two [-1, 1] inputs: scikit-image's astronaut resized to ``size`` (when present) and uniform noise."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)
    try:
        import cv2
        from skimage import data

        photo = cv2.resize(data.astronaut()[20:220, 140:340], (size, size), interpolation=cv2.INTER_AREA)
        photo = (photo.astype(np.float32) / 255.0 - 0.5) / 0.5
    except ImportError:
        photo = rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)
    return np.stack([photo, noise])


def _missing_prerequisite(gpen_dir, torch_python):
    """A sentence naming what is missing, or None when the check can run."""
    if not os.path.isfile(os.path.join(gpen_dir, "face_model", "gpen_model.py")):
        return f"no upstream GPEN checkout at {gpen_dir} (face_model/gpen_model.py)"
    probe = subprocess.run([torch_python, "-c", "import torch"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"torch is not importable by {torch_python}"
    return None


def compare(gpen_dir, torch_python, model_name, seed):
    """Runs both sides; returns (max abs error on [-1, 1] outputs, (uint8 values that differ, by at most),
    upstream output range)."""
    from metaf2n_tf.faces.network_range import from_network_uint8
    from metaf2n_tf.weights.gpen import load_gpen

    size, channel_multiplier, narrow = MODELS[model_name]
    with tempfile.TemporaryDirectory() as work_dir:
        x = _faces(size, seed)
        np.save(os.path.join(work_dir, "input.npy"), x)
        args = [gpen_dir, size, channel_multiplier, narrow, seed, work_dir]
        subprocess.run([torch_python, os.path.abspath(__file__), WORKER_FLAG, *map(str, args)], check=True)
        expected = np.load(os.path.join(work_dir, "output.npy"))
        model, _ = load_gpen(os.path.join(work_dir, "state.pth"))
    got = model(x, training=False).numpy()
    error = float(np.abs(got - expected).max())
    levels = np.abs(from_network_uint8(got, "truncate").astype(int) - from_network_uint8(expected, "truncate"))
    return error, (int((levels > 0).sum()), int(levels.max())), (float(expected.min()), float(expected.max()))


def main(argv=None) -> int:
    import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
    from absl import flags

    from metaf2n_tf.errors import MetaF2NError

    argv = sys.argv[1:] if argv is None else argv
    fv = flags.FlagValues()
    flags.DEFINE_string("gpen_dir", "../GPEN", "upstream checkout holding face_model/gpen_model.py", flag_values=fv)
    flags.DEFINE_string("torch_python", sys.executable, "a Python interpreter with torch", flag_values=fv)
    flags.DEFINE_enum("model", "GPEN-BFR-256", sorted(MODELS), "configuration to compare", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "seed of the random weights and input", flag_values=fv)
    flags.DEFINE_float("tolerance", 1e-4, "largest max abs error accepted on [-1, 1] outputs", flag_values=fv)
    try:
        fv([PROGRAM] + list(argv))
        missing = _missing_prerequisite(fv.gpen_dir, fv.torch_python)
        if missing:
            print(f"{PROGRAM}: {missing}; parity check skipped")
            return 0
        error, (differ, levels), (lo, hi) = compare(fv.gpen_dir, fv.torch_python, fv.model, fv.seed)
    except (MetaF2NError, flags.Error, subprocess.CalledProcessError) as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    print(f"{PROGRAM}: {fv.model} random weights (seed {fv.seed}), 2 faces: max abs error {error:.3g} "
          f"on outputs in [{lo:.2f}, {hi:.2f}]; {differ} uint8 values differ, by at most {levels}")
    return 0 if error <= fv.tolerance else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        gpen_dir, size, multiplier, narrow, seed, work = sys.argv[2:8]
        upstream_worker(gpen_dir, int(size), int(multiplier), float(narrow), int(seed), work)
    else:
        sys.exit(main())
