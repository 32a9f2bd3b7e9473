"""main.py end to end on records written here: training, summaries, resume, export for test.py; loop logic.

One uninterrupted run (A); a copy of it cut back to model-3 as a killed run leaves it, then resumed (B), must end
with A's weights bit for bit. The export is checked against the independent TF1 graph of ``tests.reference_tf1``.
NaN / Inf and Ctrl-C handling of ``loop.train`` are checked with stand-in trainer and checkpoint objects.
"""
import glob
import os
import shutil
import signal

import cv2
import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.models.fast_weights import face_weights
from metaf2n_tf.data import pipeline, records
from metaf2n_tf.errors import MetaF2NError
from metaf2n_tf.models.discriminator import unet_discriminator_sn
from metaf2n_tf.models.masknet import masknet
from metaf2n_tf.models.rrdbnet import rrdbnet
from metaf2n_tf.train import loop
from metaf2n_tf.train.meta_step import MetaModels, MetaSettings, sr_values, task_losses
from metaf2n_tf.weights import h5
from metaf2n_tf.weights.torchvision import load_lpips
from tests import pth_writer
from tests.metrics.lpips_reference import alexnet_weights
from tests.models.test_discriminator import random_netd
from tests.reference_tf1 import ReferenceGraph, random_tensors
from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZES = dict(face_size=64, natural_size=96, height=32, height1=64)


def _script(name):
    return load_script(f"{name}.py")


def _smooth(rng, size):
    base = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.uint8)
    return cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    for prefix, size in (("whole_face", 64), ("back96", 96)):
        with records.ShardWriter(str(root / "rec"), prefix, 100) as writer:
            for _ in range(8):
                writer.write(records.encode(_smooth(rng, size)))
            writer.close()
    pth_writer.save(alexnet_weights(), root / "alexnet.pth")
    pth_writer.save({"params": random_netd(64, seed=2)}, root / "netD.pth")
    h5.write_h5(root / "init.h5", random_tensors(num_block=2, seed=9))  # 2 blocks: --num_block 1 takes the first
    args = [
        f"--tfrecord_path0={root}/rec/whole_face*", f"--tfrecord_path1={root}/rec/back96*", "--face_size=64",
        "--natural_size=96", "--height=32", "--width=32", "--height1=64", "--width1=64", "--restorer=gt",
        "--meta_batch_size=2", "--task_batch_size=2", "--num_block=1", f"--init_weights={root}/init.h5",
        f"--alexnet_weights={root}/alexnet.pth", f"--disc_weights={root}/netD.pth", "--meta_lr=2e-3",
        "--meta_iter=4", "--save_iter=1", "--print_iter=2", "--seed=5", "--trial=1",
    ]
    return root, args


def _main(args, capsys=None):
    rc = _script("main").main(args)
    err = capsys.readouterr().err if capsys else ""
    return rc, err


def _variables(path):
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if n.endswith("VARIABLE_VALUE")}


@pytest.fixture(scope="module")
def run_a(setup):
    root, args = setup
    rc, _ = _main(args + [f"--checkpoint_dir={root}/a", f"--log_dir={root}/logs_a", "--step=0"])
    assert rc == 0, f"the shared training run failed with exit status {rc}"
    return rc, root / "a" / "Model1"


@pytest.mark.slow
def test_run_writes_checkpoints_and_summaries(setup, run_a):
    root, _ = setup
    rc, directory = run_a
    assert rc == 0
    assert [os.path.basename(p) for p in sorted(glob.glob(f"{directory}/model-*.index"))] == [
        f"model-{i}.index" for i in range(5)]
    assert tf.train.latest_checkpoint(str(directory)).endswith("model-4")
    tags = {v.tag for path in glob.glob(f"{root}/logs_a1/events*")
            for event in tf.compat.v1.train.summary_iterator(path) for v in event.summary.value}
    for tag in ("loss/objective", "loss/l1", "loss/lpips", "loss/gan", "loss/mask", "loss/inner", "loss/disc",
                "task0/inner_before", "task0/inner_after", "task0/outer_before", "task0/outer_adapted",
                "learning_rate/meta", "learning_rate/disc", "1.inputa", "6.sr_adapted", "3.mask"):
        assert tag in tags, tag


def _restored_models(root, path, models=None):
    models = models or MetaModels(rrdbnet(num_block=1), masknet(), unet_discriminator_sn(),
                                  load_lpips(str(root / "alexnet.pth")))
    tf.train.Checkpoint(model=models.sr, mask=models.mask, discriminator=models.disc).read(path).expect_partial()
    return models


@pytest.mark.slow
def test_meta_steps_reduce_the_outer_loss(setup, run_a):
    root, _ = setup
    _, directory = run_a
    batch = next(iter(pipeline.meta_batches(f"{root}/rec/whole_face*", f"{root}/rec/back96*", face_size=64,
                                            natural_size=96, face_patch=32, natural_patch=64, meta_batch_size=2,
                                            task_batch_size=2, seed=123)))
    models = None

    def objective(step):
        nonlocal models
        models = _restored_models(root, f"{directory}/model-{step}", models)
        return np.mean([float(task_losses(models, sr_values(models), {k: v[i] for k, v in batch.items()},
                                          MetaSettings())["objective"]) for i in range(2)])

    before, after = objective(0), objective(4)
    assert after < 0.95 * before, (before, after)  # measured 0.475 -> 0.414 (a held-out meta-batch)


def _killed_copy(source, target, step):
    """``source`` as a run killed after saving model-{step}: later checkpoints gone, a half-written one left."""
    shutil.copytree(source, target)
    for path in glob.glob(f"{target}/model-*") + glob.glob(f"{target}/data/data-*"):
        if int(os.path.basename(path).split("-")[1].split(".")[0]) > step:
            os.remove(path)
    (target / f"model-{step + 1}.data-00000-of-00001").write_bytes(b"partial")
    tf.compat.v1.train.update_checkpoint_state(str(target), f"model-{step}")
    tf.compat.v1.train.update_checkpoint_state(str(target / "data"), f"data-{step}")


@pytest.mark.slow
def test_killed_run_resumes_bit_exactly(setup, run_a, capsys):
    root, args = setup
    _, directory_a = run_a
    directory = root / "b" / "Model1"
    _killed_copy(directory_a, directory, 3)
    common = args + [f"--checkpoint_dir={root}/b", f"--log_dir={root}/logs_b", "--print_iter=1000"]
    rc, err = _main(common + ["--step=4"], capsys)
    assert rc == 2 and "latest checkpoint is model-3, got --step 4, expected --step 3" in err
    assert len(err.strip().splitlines()) == 1
    rc, err = _main(common + ["--step=3"], capsys)
    assert rc == 0, err
    a, b = _variables(f"{directory_a}/model-4"), _variables(f"{directory}/model-4")
    assert a.keys() == b.keys() and len(a) > 100
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.slow
def test_export_loads_in_tf1_saver_graph_and_test_py(setup, run_a, tmp_path, capsys):
    root, _ = setup
    _, directory = run_a
    prefix = str(tmp_path / "export" / "model-new")
    rc, err = _main([f"--checkpoint_dir={root}/a", "--trial=1", f"--export={prefix}"], capsys)
    assert rc == 0, err
    graph = ReferenceGraph(random_tensors(num_block=1, seed=0))
    with graph.graph.as_default():
        graph.saver.restore(graph.sess, prefix)  # every variable by its original name, shapes checked
    models = _restored_models(root, f"{directory}/model-4")
    rng = np.random.default_rng(3)
    image, lq, hq = rng.random((12, 10, 3)), rng.random((2, 8, 8, 3)), rng.random((2, 32, 32, 3))
    expected = graph.sr(image.astype(np.float32))
    np.testing.assert_allclose(models.sr(image[None].astype(np.float32))[0], expected, atol=1e-5)
    np.testing.assert_allclose(face_weights(models.mask, lq.astype(np.float32), hq.astype(np.float32)),
                               graph.mask_values(lq, hq), rtol=1e-4, atol=1e-5)
    lq_dir, face_dir, out = tmp_path / "LQ", tmp_path / "faces", tmp_path / "out"
    photo = (np.random.default_rng(4).random((12, 10, 3)) * 255).astype(np.uint8)
    for path, img in ((lq_dir / "p.png", photo), (face_dir / "Face_LQ" / "p_0.png", photo[:8, :8]),
                      (face_dir / "Face_HQ" / "p_0.png", cv2.resize(photo[:8, :8], (32, 32)))):
        os.makedirs(path.parent, exist_ok=True)
        cv2.imwrite(str(path), img[..., ::-1])
    rc = _script("test").main([f"--input_dir={lq_dir}", f"--face_dir={face_dir}", f"--output_dir={out}",
                               f"--model_dir={prefix}", "--fine_tune_num=0"])
    assert rc == 0, capsys.readouterr().err
    got = cv2.imread(str(out / "p.png"))[..., ::-1].astype(int)
    want = np.round(np.clip(graph.sr(photo.astype(np.float32) / 255), 0, 1) * 255)
    assert np.abs(got - want).max() <= 1
    rc, err = _main([f"--checkpoint_dir={root}/a", "--trial=1", f"--export={directory}/model-new"], capsys)
    assert rc == 2 and "expected another folder" in err


def test_step_without_checkpoint_stops_with_one_line(setup, tmp_path, capsys):
    _, args = setup  # no training run: the check comes before any model is built
    rc, err = _main(args + [f"--checkpoint_dir={tmp_path}", "--step=7"], capsys)
    assert rc == 2 and "no checkpoint to resume from, got --step 7" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_wrong_architecture_stops_with_one_line(setup, run_a, capsys):
    root, args = setup
    rc, err = _main(args + [f"--checkpoint_dir={root}/a", "--step=4", "--num_block=2", "--meta_iter=6"], capsys)
    assert rc == 2 and "SR model has 1 RRDB blocks, got --num_block 2" in err


class _StubTrainer:
    """Returns preset losses; counts steps like the real one."""

    def __init__(self, objectives):
        self.objectives, self.step = objectives, tf.Variable(0, dtype=tf.int64)

    def train_step(self, batch, first_order=False):
        self.step.assign_add(1)
        value = self.objectives[int(self.step) - 1]
        return {k: tf.constant(value) for k in ("objective", "l1", "lpips", "gan", "mask", "inner", "disc")}

    def diagnostics(self, batch):
        return {}, {}


class _Recorder:
    def __init__(self):
        self.saved, self.written = [], []

    def save(self, step):
        self.saved.append(step)

    def write(self, step, losses, diagnostics):
        self.written.append(step)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_stops_without_a_later_checkpoint(bad):
    from config import MetaConfig

    trainer, recorder = _StubTrainer([0.5, 0.4, 0.3, bad, 0.2]), _Recorder()
    meta = MetaConfig(meta_iter=5, save_iter=2, print_iter=2)
    with pytest.raises(MetaF2NError, match=rf"step 4: loss 'objective' is {bad}; .*nothing saved after model-2"):
        loop.train(trainer, iter(range(10)), recorder, recorder, meta)
    assert recorder.saved == [2] and recorder.written == [1, 2]


def test_main_reports_interrupt_and_errors(monkeypatch, capsys):
    def interrupted(cfg):
        raise KeyboardInterrupt("interrupted at step 3; saved model-3")

    monkeypatch.setattr(loop, "run", interrupted)
    rc, err = _main(["--lpips_weight=0"], capsys)
    assert rc == 130 and err.strip() == "main.py: interrupted at step 3; saved model-3"
    rc, err = _main([], capsys)  # LPIPS on (default 0.5) without its backbone: stops at once
    assert rc == 2 and err.count("\n") == 1
    assert "--alexnet_weights" in err and "--lpips_weight 0" in err


def test_interrupt_saves_after_the_step_once():
    from config import MetaConfig

    class Interrupting(_StubTrainer):
        def train_step(self, batch, first_order=False):
            if int(self.step) == 2:
                signal.raise_signal(signal.SIGINT)
            return super().train_step(batch, first_order)

    trainer, recorder = Interrupting([0.5] * 9), _Recorder()
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a pytest-xdist worker
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 3; saved model-3"):
        loop.train(trainer, iter(range(10)), recorder, recorder, MetaConfig(meta_iter=9, save_iter=2, print_iter=5))
    assert recorder.saved == [2, 3]
    assert signal.getsignal(signal.SIGINT) is before  # the run's own handler is removed again


def test_resumed_optimizers_take_the_flags_learning_rates(tmp_path):
    """A Keras optimizer checkpoints its rate; after a restore the flags' rates apply, and the change is said."""
    import dataclasses

    from config import MetaConfig

    old = dataclasses.replace(MetaConfig(), learn_inner_lr=True)
    new = dataclasses.replace(old, disc_lr=old.disc_lr * 10)
    variables = [tf.Variable(1.0)]
    saved = loop.make_optimizers(old)
    for optimizer in saved:
        optimizer.build(variables)
    path = tf.train.Checkpoint(**{f"o{i}": o for i, o in enumerate(saved)}).save(str(tmp_path / "ck"))
    resumed = loop.make_optimizers(new)
    for optimizer in resumed:
        optimizer.build(variables)
    tf.train.Checkpoint(**{f"o{i}": o for i, o in enumerate(resumed)}).restore(path).assert_consumed()
    assert float(resumed[1].learning_rate) == pytest.approx(old.disc_lr)  # what a plain restore leaves
    notes = []
    loop.apply_flag_rates(resumed, new, notes.append)
    assert [float(o.learning_rate) for o in resumed] == pytest.approx([new.meta_lr, new.disc_lr, new.inner_lr_lr])
    assert notes == [f"note: --disc_lr {new.disc_lr:g} replaces the checkpoint's {old.disc_lr:g}"]


def test_a_zero_face_loss_is_reported_once(capsys):
    # inner == 0 exactly: MaskNet's W is 0 everywhere (tests/train/test_meta_step.py shows it), so the run warns
    # once and goes on.
    from config import MetaConfig

    trainer, recorder = _StubTrainer([0.5, 0.0, 0.0, 0.3]), _Recorder()
    assert loop.train(trainer, iter(range(10)), recorder, recorder, MetaConfig(meta_iter=4, save_iter=4)) == 4
    warnings = [line for line in capsys.readouterr().err.splitlines() if "W = 0" in line]
    assert len(warnings) == 1 and warnings[0].startswith("main.py: warning: step 2: MaskNet gives W = 0")
    assert "--meta_lr" in warnings[0]
