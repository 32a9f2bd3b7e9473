"""The face restorers' output range: [-1, 1] network values -> uint8 pixels, as each upstream writes them."""
import numpy as np

ROUNDINGS = ("truncate", "round")


def from_network_uint8(output, rounding):
    """``uint8(clip(y * 0.5 + 0.5, 0, 1) * 255)`` in float32, with upstream's conversion to integers.

    Args:
        output: network output in [-1, 1] (any shape).
        rounding: ``"truncate"``, GPEN's (MetaF2N's ``FaceGAN.process`` casts the float to uint8, so 254.9
            becomes 254); ``"round"``, DMDNet's (its test script hands the float32 array to ``cv2.imwrite``,
            which rounds half to even: 127.5 becomes 128).
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    y = np.clip(np.asarray(output, np.float32) * 0.5 + 0.5, 0, 1) * np.float32(255.0)
    return (np.rint(y) if rounding == "round" else y).astype(np.uint8)
