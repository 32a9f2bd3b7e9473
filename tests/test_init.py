"""``import metaf2n_tf``: no TensorFlow until something needs it, and then a quiet import."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_package_import_is_lazy_and_tensorflow_import_quiet():
    code = (
        "import sys, metaf2n_tf\n"
        "print('tensorflow' in sys.modules)\n"
        "import tensorflow as tf\n"
        "print(tf.constant(2.0).numpy() * 2)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=600)
    assert result.stdout.split() == ["False", "4.0"], result.stderr
    assert result.stderr == ""  # TensorFlow's start-up chatter (oneDNN, CUDA probing) hidden
