"""Device selection from the original's ``--gpu`` flag, without environment variables."""
import sys


def select_gpus(spec):
    """Makes only the GPUs listed in ``spec`` ('0', '0,1'; '' or '-1' = none) visible to TensorFlow."""
    import tensorflow as tf  # here, so that importing this module costs nothing

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return []
    wanted = [int(s) for s in spec.split(",") if s.strip() not in ("", "-1")]
    chosen = [gpus[i] for i in wanted if 0 <= i < len(gpus)]
    if len(chosen) < len(wanted):
        print(f"note: --gpu {spec}: only {len(gpus)} GPU(s) present; using {len(chosen)}", file=sys.stderr)
    try:
        tf.config.set_visible_devices(chosen, "GPU")
        for gpu in chosen:
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # devices already initialised: keep what is there
        pass
    return chosen


def gpu_in_use(gpu):
    """Whether TensorFlow will run on a GPU for the ``--gpu`` spec ('0', '0,1'; '' or '-1' = CPU).

    The rule of every ``--backend auto`` (whole-image SR, face detection): OpenVINO unless this says yes.
    Without a GPU device node (/dev/nvidia*, /dev/kfd) the answer is no and TensorFlow is not imported;
    otherwise TensorFlow is asked (it may be a CPU-only build) after restricting it to ``gpu``.
    """
    import glob
    import os

    if not [s for s in gpu.split(",") if s.strip() not in ("", "-1")]:
        return False
    if not (glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd")):
        return False
    return bool(select_gpus(gpu))
