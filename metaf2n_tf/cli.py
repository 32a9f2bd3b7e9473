"""What the top-level scripts share: flag parsing (local FlagValues, --help, one-line errors) and main()'s wrapper."""
import sys

from absl import flags

from metaf2n_tf.errors import ConfigError, MetaF2NError

HELP_FLAGS = ("-h", "--help", "-help", "--helpfull")


def define_gpu(fv):
    """``--gpu``, as every script that may run TensorFlow has it."""
    flags.DEFINE_string("gpu", "0", "GPU ids to use, e.g. '0'; '' or '-1' for CPU", flag_values=fv)


def define_max_pixels(fv, default):
    """``--max_pixels`` of the scripts that read photos (``data.images``' decompression-bomb limit)."""
    flags.DEFINE_integer("max_pixels", default, "refuse photos declaring more pixels than this, "
                         "before decoding them (decompression bombs)", lower_bound=1, flag_values=fv)


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


def run_main(program, work, argv=None):
    """A script's ``main``: ``work(argv)`` with the user's errors turned into one line and an exit status.

    Args:
        program: the script's name, the prefix of every message (``"test.py"``).
        work: ``work(argv) -> int | None``, the script's whole job; None means success.
        argv: the arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        ``work``'s status (0 for None); 2 after a :class:`MetaF2NError` (printed as ``program: message``
        on stderr, no traceback); 130 after Ctrl-C. Any other exception is a bug and propagates.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        status = work(argv)
    except MetaF2NError as e:
        print(f"{program}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"{program}: {str(e) or 'interrupted'}", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)
