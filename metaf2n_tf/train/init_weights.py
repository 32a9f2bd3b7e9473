"""Initial weights of a fresh meta-training run: SR model and MaskNet from a weights source, discriminator."""
import sys

from metaf2n_tf.errors import WeightsError
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.weights import pth
from metaf2n_tf.weights.assign import set_model_weights
from metaf2n_tf.weights.names import RRDB_BLOCK
from metaf2n_tf.weights.sources import read_weights
from metaf2n_tf.weights.torchvision import set_netd_weights

NO_INIT_WEIGHTS = "none"  # --init_weights none: nothing is read, SR model and MaskNet start random


def note(message):
    print(f"note: {message}", file=sys.stderr)


def truncated_sr(tensors, num_block, source):
    """The SR tensors with only RRDB blocks ``0..num_block-1``; WeightsError when the source has fewer."""
    blocks = {int(m.group(1)) for k in tensors if (m := RRDB_BLOCK.match(k))}
    if num_block > len(blocks):
        raise WeightsError(f"{source}: holds {len(blocks)} RRDB blocks, got --num_block {num_block}")
    return {k: v for k, v in tensors.items() if not (m := RRDB_BLOCK.match(k)) or int(m.group(1)) < num_block}


def build_sr_and_mask(init_weights, num_block):
    """RRDBNet (``num_block`` blocks) and MaskNet from an init source (``read_weights``) or random (``none``).

    A source with more blocks gives its first ``num_block``; MaskNet is random (VarianceScaling, as the
    original) unless the source holds one. Call under the distribution strategy's scope.
    """
    if init_weights == NO_INIT_WEIGHTS:
        note("--init_weights none: SR model and MaskNet randomly initialised")
        return rrdbnet(num_block=num_block), masknet()
    weights = read_weights(init_weights)
    _, num_feat, num_grow_ch = weights.arch
    sr_model = rrdbnet(num_block=num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
    set_model_weights(sr_model, truncated_sr(weights.sr, num_block, init_weights), init_weights)
    mask_model = masknet()
    if weights.mask:
        set_model_weights(mask_model, weights.mask, init_weights)
    else:
        note(f"{init_weights} holds no MaskNet: MaskNet randomly initialised")
    return sr_model, mask_model


def build_discriminator(disc_weights):
    """UNetDiscriminatorSN from a Real-ESRGAN netD ``.pth`` (``params``), or random when none is given."""
    disc = unet_discriminator_sn()
    if disc_weights:
        set_netd_weights(disc, pth.state_dict(pth.load_pth(disc_weights), disc_weights), disc_weights)
    else:
        note("no --disc_weights: discriminator randomly initialised")
    return disc
