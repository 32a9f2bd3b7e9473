"""Parity of the Keras DMDNet port with the upstream PyTorch DMDNet, on the same random weights.

    python tools/check_dmdnet_parity.py --dmdnet_dir ../DMDNet --torch_python /tmp/torch_venv/bin/python

Needs an upstream checkout (csxmli2016/DMDNet: ``models/DMDNet.py``, ``main_test.py`` and its
``TestExamples``) and a Python with torch (``--torch_python``; default: this interpreter). Where either
is missing it says so and exits 0. Torch never enters this project: the upstream side runs in a child
process of that interpreter. There, upstream ``DMDNet()`` is built on CPU and every tensor of its state
is redrawn from ``--seed``: convolution weights and biases, the spectral-norm vectors ``u``/``v`` (the
top singular vectors, perturbed, so the stored vectors matter; the mask blocks' last ``u`` divided by 6
for a visible specific effect), and all 18 generic dictionaries. A random net returns a nearly flat
face, so the output convolution is then calibrated on the LQ face: its ``u`` rescaled and its bias
shifted for pre-tanh values of mean 0 and std 1. The state dict is saved with ``torch.save``; upstream's own ``read_img_tensor`` and ``get_component_location``
read the LQ face, the references and their landmark files, and the network restores the face
generically and with the specific dictionary of ``--references`` reference photos.

This side loads that ``.pth`` through the project's reader, reads the same files with
``metaf2n_tf.faces.dmdnet`` (boxes must agree exactly) and compares the [-1, 1] outputs and the uint8
images upstream would write. ``torchvision`` and ``face_alignment`` (imported by upstream but not used
on this path) are replaced by stand-ins in the child. Exit status 1 when an image differs by more than
``--tolerance`` grey levels.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

PROGRAM = "check_dmdnet_parity.py"
WORKER_FLAG = "--upstream_worker"
SAMPLE = "TestExamples/TestSpecificRestoration"
LQ_FILE = f"{SAMPLE}/SynLQ/00005_17.png"
REF_DIR = f"{SAMPLE}/RefsImg/00005"
REF_LANDMARK_DIR = f"{SAMPLE}/RefsLandmark/00005"
MASK_OUTPUT, MASK_GAIN = "_Mask.convCat.2", 6.0  # u / 6: the mask blocks' output x 6


def sample_files(dmdnet_dir, references):
    """(LQ face, its landmark file, [(reference, its landmark file)]) from upstream's test examples.

    The LQ face has no landmark file upstream (it is detected at run time): the first reference's
    landmarks stand in (same person, aligned the same way).
    """
    names = sorted(os.listdir(os.path.join(dmdnet_dir, REF_DIR)), key=lambda n: int(n.split(".")[0]))[:references]
    refs = [(os.path.join(dmdnet_dir, REF_DIR, n), os.path.join(dmdnet_dir, REF_LANDMARK_DIR, n + ".txt"))
            for n in names]
    return os.path.join(dmdnet_dir, LQ_FILE), refs[0][1], refs


def _stand_in_modules():
    """Registers stand-ins for the upstream imports this path never calls (torchvision, face_alignment)."""
    import types

    def normalize(tensor, mean, std, inplace=False):
        out = tensor if inplace else tensor.clone()
        for c, (m, s) in enumerate(zip(mean, std)):
            out[c].sub_(m).div_(s)
        return out

    class FaceAlignment:
        def __init__(self, *args, **kwargs):
            pass

    modules = {name: types.ModuleType(name) for name in (
        "torchvision", "torchvision.models", "torchvision.ops", "torchvision.transforms",
        "torchvision.transforms.functional", "face_alignment")}
    modules["torchvision.ops"].roi_align = None
    modules["torchvision.transforms.functional"].normalize = normalize
    modules["face_alignment"].FaceAlignment = FaceAlignment
    modules["face_alignment"].LandmarksType = types.SimpleNamespace(_2D=0, TWO_D=0)
    sys.modules.update(modules)


def _randomise(net, seed):
    """Redraws every tensor of the state: weights, biases, u/v near the top singular pair, dictionaries."""
    import torch

    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    with torch.no_grad():
        for name, module in net.named_modules():
            if not hasattr(module, "weight_orig"):
                continue
            weight = module.weight_orig
            weight.copy_(randn(*weight.shape) * (2.0 / weight[0].numel()) ** 0.5)
            module.bias.copy_(0.1 * randn(*module.bias.shape))
            left, _, right = torch.linalg.svd(weight.reshape(weight.shape[0], -1), full_matrices=False)
            for buf, top in ((module.weight_u, left[:, 0]), (module.weight_v, right[0])):
                vec = top + 0.3 * randn(*top.shape) / top.numel() ** 0.5
                buf.copy_(vec / vec.norm())
            if name.endswith(MASK_OUTPUT):  # a stronger blend mask: the references visibly change the face
                module.weight_u.div_(MASK_GAIN)
        for name, buf in net.named_buffers():
            if "_mem_" in name:
                channels_size = buf[0].numel()
                scale = (8.0 / channels_size) ** 0.5 if name.endswith("_key") else 1.0
                buf.copy_(scale * randn(*buf.shape))


def _calibrate_output(net, lq, loc):
    """Rescales the last conv's ``u`` and shifts its bias: pre-tanh mean 0 and std 1 on this face."""
    import torch
    import torch.nn.functional as F

    conv = net.up4[4]
    seen = {}
    handle = conv.register_forward_hook(lambda module, inputs, output: seen.setdefault("x", inputs[0]))
    with torch.no_grad():
        net(lq=lq, loc=loc)
        handle.remove()
        matrix = conv.weight_orig.reshape(conv.weight_orig.shape[0], -1)
        sigma = conv.weight_u @ (matrix @ conv.weight_v)
        y = F.conv2d(seen["x"], conv.weight_orig / sigma, padding=1)
        gain = 1.0 / float(y.std())
        conv.weight_u.div_(gain)
        conv.bias.copy_(-gain * y.mean(dim=(0, 2, 3)))


def upstream_worker(dmdnet_dir, seed, references, work_dir):
    """Child process (torch interpreter): random upstream DMDNet -> state.pth and its outputs in out.npz."""
    import torch

    _stand_in_modules()
    sys.path.insert(0, dmdnet_dir)
    from main_test import get_component_location, read_img_tensor
    from models.DMDNet import DMDNet

    torch.manual_seed(seed)
    net = DMDNet()
    _randomise(net, seed)
    net.eval()
    lq_path, lq_landmarks, refs = sample_files(dmdnet_dir, references)
    lq, _ = read_img_tensor(lq_path, return_landmark=False)
    loc = get_component_location(lq_landmarks, re_read=True)
    ref_faces = torch.cat([read_img_tensor(p, return_landmark=False)[0] for p, _ in refs])
    ref_locs = torch.stack([get_component_location(lm, re_read=True) for _, lm in refs])
    _calibrate_output(net, lq, loc.unsqueeze(0))
    torch.save(net.state_dict(), os.path.join(work_dir, "state.pth"))
    with torch.no_grad():
        sp256, sp128, sp64 = net.generate_specific_dictionary(sp_imgs=ref_faces, sp_locs=ref_locs)
        generic, specific = net(lq=lq, loc=loc.unsqueeze(0), sp_256=sp256, sp_128=sp128, sp_64=sp64)

    def saved(t):  # upstream's pre-imwrite array: RGB->BGR flipped back to RGB here, float32 in [0, 255]
        return np.clip((t * 0.5 + 0.5).squeeze(0).permute(1, 2, 0).numpy(), 0, 1) * 255.0

    memory = {}
    for scale, part in ((256, sp256), (128, sp128), (64, sp64)):
        for name, tensor in part.items():  # 'LE256Key' -> 'le256_key', NHWC
            memory[f"{name[:-3].lower()}_key" if name.endswith("Key") else f"{name[:-5].lower()}_value"] = (
                tensor.permute(0, 2, 3, 1).numpy())
    np.savez(os.path.join(work_dir, "out.npz"), generic=generic.permute(0, 2, 3, 1).numpy(),
             specific=specific.permute(0, 2, 3, 1).numpy(), generic_image=saved(generic),
             specific_image=saved(specific), loc=loc.numpy(), ref_locs=ref_locs.numpy(),
             **{f"memory_{k}": v for k, v in memory.items()})


def _missing_prerequisite(dmdnet_dir, torch_python):
    """A sentence naming what is missing, or None when the check can run."""
    for rel in ("models/DMDNet.py", "main_test.py", LQ_FILE, REF_DIR):
        if not os.path.exists(os.path.join(dmdnet_dir, rel)):
            return f"no upstream DMDNet checkout at {dmdnet_dir} ({rel} missing)"
    probe = subprocess.run([torch_python, "-c", "import torch"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"torch is not importable by {torch_python}"
    return None


def compare(dmdnet_dir, torch_python, seed, references):
    """Runs both sides; returns ({mode: (max abs error on [-1, 1], max grey-level difference, differing
    uint8 values, output std)} for 'generic' and 'specific', [lines on the specific path])."""
    import tensorflow as tf

    from metaf2n_tf.faces import dmdnet as faces
    from metaf2n_tf.faces.network_range import from_network_uint8

    with tempfile.TemporaryDirectory() as work_dir:
        args = [dmdnet_dir, seed, references, work_dir]
        subprocess.run([torch_python, os.path.abspath(__file__), WORKER_FLAG, *map(str, args)], check=True)
        expected = dict(np.load(os.path.join(work_dir, "out.npz")))
        restorer = faces.DMDNetRestorer(os.path.join(work_dir, "state.pth"))
    lq_path, lq_landmarks, refs = sample_files(dmdnet_dir, references)
    boxes = faces.face_boxes(lq_landmarks)
    ref_boxes = [faces.face_boxes(lm) for _, lm in refs]
    if not (np.array_equal(boxes, expected["loc"]) and np.array_equal(np.stack(ref_boxes), expected["ref_locs"])):
        raise SystemExit(f"{PROGRAM}: component boxes differ from upstream's: {boxes.tolist()} vs "
                         f"{expected['loc'].astype(int).tolist()}")
    face = faces.read_face(lq_path)
    specific = restorer.specific_dictionary([(faces.read_face(p), b) for (p, _), b in zip(refs, ref_boxes)])
    lq, loc = tf.constant(faces.to_network(face)[None]), tf.constant(boxes[None].astype(np.int32))
    results = restorer.model.restore(lq, loc, specific)
    outputs = {mode: out.numpy() for mode, out in zip(("generic", "specific"), results)}
    report = {}
    for mode, out in outputs.items():
        levels = np.abs(from_network_uint8(out[0], "round").astype(int) - np.rint(expected[f"{mode}_image"]).astype(int))
        report[mode] = (float(np.abs(out - expected[mode]).max()), int(levels.max()), int((levels > 0).sum()),
                        float(expected[mode].std()))
    effect = expected["specific"] - expected["generic"]
    got_effect = outputs["specific"] - outputs["generic"]
    memory_error = max(float(np.abs(specific[k].numpy() - expected[f"memory_{k}"]).max()) for k in specific)
    memory_scale = max(float(np.abs(expected[f"memory_{k}"]).max()) for k in specific)
    notes = [f"specific - generic: max {np.abs(effect).max():.3g} (mean {np.abs(effect).mean():.3g}), "
             f"port's differs by at most {np.abs(got_effect - effect).max():.3g}",
             f"specific dictionary ({len(specific)} tensors, max |value| {memory_scale:.3g}): "
             f"max abs error {memory_error:.3g}"]
    return report, notes


def main(argv=None) -> int:
    import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
    from absl import flags

    from metaf2n_tf.errors import MetaF2NError

    argv = sys.argv[1:] if argv is None else argv
    fv = flags.FlagValues()
    flags.DEFINE_string("dmdnet_dir", "../DMDNet", "upstream checkout (models/DMDNet.py, main_test.py, TestExamples)",
                        flag_values=fv)
    flags.DEFINE_string("torch_python", sys.executable, "a Python interpreter with torch", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "seed of the random weights", flag_values=fv)
    flags.DEFINE_integer("references", 3, "reference photos for the specific dictionary", lower_bound=2,
                         flag_values=fv)
    flags.DEFINE_integer("tolerance", 2, "largest grey-level difference accepted", flag_values=fv)
    try:
        fv([PROGRAM] + list(argv))
        missing = _missing_prerequisite(fv.dmdnet_dir, fv.torch_python)
        if missing:
            print(f"{PROGRAM}: {missing}; parity check skipped")
            return 0
        report, notes = compare(fv.dmdnet_dir, fv.torch_python, fv.seed, fv.references)
    except (MetaF2NError, flags.Error, subprocess.CalledProcessError) as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    worst = 0
    for mode, (error, levels, differ, std) in report.items():
        worst = max(worst, levels)
        print(f"{PROGRAM}: {mode}: max abs error {error:.3g} on outputs with std {std:.2f}; "
              f"{differ} uint8 values differ, by at most {levels} grey level(s)")
    for note in notes:
        print(f"{PROGRAM}: {note}")
    return 0 if worst <= fv.tolerance else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER_FLAG:
        dmdnet_dir, seed, references, work = sys.argv[2:6]
        upstream_worker(dmdnet_dir, int(seed), int(references), work)
    else:
        sys.exit(main())
