"""Shared photos for the face tests: scikit-image's astronaut (one face) as ground truth and as LQ."""
import numpy as np
import pytest
from skimage import data

import metaf2n_tf  # noqa: F401
from tests.faces.helpers import block_mean


@pytest.fixture(scope="session")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_lq(astronaut):
    """The astronaut at 128x128 by 4x4 block means: an undegraded LQ photo of the 512x512 ground truth."""
    return np.rint(block_mean(astronaut)).astype(np.uint8)


@pytest.fixture(scope="session")
def aligned_astronaut(astronaut):
    """(the astronaut's face aligned to the 512 five-point template, RetinaFace's five points in that frame).

    The five points (left eye, right eye, nose tip, left and right mouth corner) come from the RetinaFace
    graph, a different network from the 68-point one: an independent reference for its landmarks.
    """
    from metaf2n_tf.faces import align, detect

    [face] = detect.detect_faces(astronaut, 0.9)
    alignment = align.estimate_alignment(face.landmarks)
    five = np.c_[face.landmarks, np.ones(5)] @ alignment.matrix.T
    return align.warp_to_face(astronaut, alignment), five
