"""The repository's scripts (test.py, main.py, enhance.py, tools/*.py) as modules, for tests that call their
``main()`` in this interpreter (no second TensorFlow start-up)."""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(path):
    """The script at ``path`` (relative to the repository root, e.g. ``"tools/soak.py"``), freshly executed."""
    name = "metaf2n_script_" + path.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
