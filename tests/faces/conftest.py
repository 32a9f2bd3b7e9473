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
