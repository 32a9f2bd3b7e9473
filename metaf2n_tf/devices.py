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
