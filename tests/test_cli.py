"""metaf2n_tf.cli: --help, one-line flag errors, and the scripts' main() wrapper (exit statuses 0/1/2/130)."""
import pytest
from absl import flags

from metaf2n_tf import cli
from metaf2n_tf.errors import ConfigError, InputError


def _flags():
    fv = flags.FlagValues()
    flags.DEFINE_integer("steps", 3, "how many steps", flag_values=fv)
    return fv


@pytest.mark.parametrize("flag", cli.HELP_FLAGS)
def test_help_prints_usage_and_flags_then_exits_0(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parse_flags(_flags(), [flag], "prog.py")
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python prog.py [flags]\n") and "--steps: how many steps" in out


def test_flags_parse_and_bad_ones_are_one_line():
    assert cli.parse_flags(_flags(), ["--steps=7"], "prog.py").steps == 7
    with pytest.raises(ConfigError, match=r"^Unknown command line flag 'nope'$"):
        cli.parse_flags(_flags(), ["--nope=1"], "prog.py")
    with pytest.raises(ConfigError) as err:
        cli.parse_flags(_flags(), ["--steps=x"], "prog.py")
    assert "\n" not in str(err.value) and "steps" in str(err.value)


def test_run_main_statuses_and_messages(capsys):
    assert cli.run_main("p.py", lambda argv: None, []) == 0
    assert cli.run_main("p.py", lambda argv: 1, []) == 1
    assert cli.run_main("p.py", lambda argv: len(argv), ["a", "b"]) == 2  # argv reaches the work as given

    def bad_input(argv):
        raise InputError("x.png: not an image")

    assert cli.run_main("p.py", bad_input, []) == 2
    assert capsys.readouterr().err == "p.py: x.png: not an image\n"

    def ctrl_c(argv):
        raise KeyboardInterrupt

    assert cli.run_main("p.py", ctrl_c, []) == 130
    assert capsys.readouterr().err == "p.py: interrupted\n"


def test_run_main_lets_bugs_through():
    def bug(argv):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        cli.run_main("p.py", bug, [])
