"""Model builders (Keras), one per file. ``SCALE`` lives here, free of Keras, so that TensorFlow-free paths
(OpenVINO inference, tiling) share the one definition."""

SCALE = 4  # the one definition of the x4 scale: LQ -> SR, LQ face -> HQ face, LQ patch -> HQ patch
