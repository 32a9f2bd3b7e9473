"""Flag parsing shared by the top-level scripts: local FlagValues, --help, one-line errors."""
from absl import flags

from metaf2n_tf.errors import ConfigError

HELP_FLAGS = ("-h", "--help", "-help", "--helpfull")


def parse_flags(fv, argv, program):
    """Parses ``argv`` (without the program name) into ``fv``.

    ``--help`` prints the flags and exits 0; a bad or unknown flag raises ConfigError (one line).
    """
    argv = list(argv)
    if any(a in HELP_FLAGS for a in argv):
        print(f"usage: python {program} [flags]\n\n{fv.get_help()}")
        raise SystemExit(0)
    try:
        fv([program] + argv)
    except flags.Error as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    return fv
