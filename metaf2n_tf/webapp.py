"""The Gradio page of app.py: upload a photo, see every stage, download the result.

The page runs :meth:`metaf2n_tf.enhance.Enhancer.enhance`, the same function as enhance.py, on the
uploaded file's own bytes (decoded by ``data.images.read_rgb``, as enhance.py decodes files), with the
upload's file name as the photo name (it seeds the random face patches): the same photo and settings
give the same result in both.

Offline and private by construction: bound to 127.0.0.1 unless ``host`` says otherwise, no share link,
Gradio's analytics and version check off, a theme with system fonts only (Gradio's default theme loads
web fonts), one job at a time through Gradio's queue.
"""
import dataclasses
import os
import sys
import tempfile

import cv2
import numpy as np

from metaf2n_tf import enhance
from metaf2n_tf.errors import InputError, MetaF2NError
from metaf2n_tf.faces.restore import GroundTruthRestorer

TITLE = "MetaF2N: enhance a photo with faces"
NETWORK_RESTORERS = ("gpen", "dmdnet")
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
STAGE_TEXT = {"detect": "detecting faces", "restore": "restoring faces", "adapt": "adapt step",
              "sr": "SR tile", "sr_plain": "plain SR tile", "paste": "pasting faces", "metrics": "scoring"}
# Rough share of the job each stage takes, so the bar moves forward through the stages.
STAGE_SPAN = {"detect": (0.0, 0.05), "restore": (0.05, 0.1), "adapt": (0.1, 0.6), "sr": (0.6, 0.8),
              "sr_plain": (0.8, 0.95), "paste": (0.95, 0.96), "metrics": (0.96, 1.0)}


def _upload_path(payload, what):
    """The server-side path of an uploaded image (Gradio's FileData dict), checked to be Gradio's upload."""
    from gradio.utils import get_upload_folder

    path = payload.get("path") if isinstance(payload, dict) else None
    if not path:
        raise InputError(f"{what}: no file received")
    folder = os.path.realpath(get_upload_folder())
    if not os.path.realpath(path).startswith(folder + os.sep):
        raise InputError(f"{what}: not an uploaded file")
    return path, payload.get("orig_name") or os.path.basename(path)


def _read_upload(payload, what, max_pixels):
    """(image, name, notes) of an upload; errors name the uploaded file, not the server's copy."""
    path, orig = _upload_path(payload, what)
    try:
        image, notes = enhance.read_photo(path, max_pixels)
    except InputError as e:
        raise InputError(str(e).replace(path, orig)) from None
    return image, os.path.splitext(os.path.basename(orig))[0], [n.replace(path, orig) for n in notes]


def face_strip(pair):
    """LQ face (x4, nearest) | restored face, side by side."""
    lq = cv2.resize(pair.lq, (pair.hq.shape[1], pair.hq.shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.concatenate([lq, pair.hq], axis=1)


def w_image(mask):
    """MaskNet's W as a colour map (scaled by its maximum)."""
    scaled = np.clip(mask / max(float(mask.max()), 1e-8) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def figures_markdown(record, niqe_available):
    """Fidelity and no-reference figures, the adaptation and the timings, as Markdown."""
    s = record["settings"]
    lines = []
    metrics = record["metrics"]
    if metrics:
        names = [m for m in ("psnr", "ssim", "niqe") if m in metrics.get("result", {})]
        header = {"psnr": "PSNR-Y (dB) ↑", "ssim": "SSIM ↑", "niqe": "NIQE ↓"}
        lines += ["| | " + " | ".join(header[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
        labels = {"bicubic": "bicubic x4", "plain": "plain SR", "result": "result"}
        for row in ("bicubic", "plain", "result"):
            if row in metrics:
                values = [metrics[row].get(n) for n in names]
                lines.append(f"| {labels[row]} | " + " | ".join("—" if v is None else f"{v:.4g}" for v in values) + " |")
        lines.append("")
    if "psnr" not in metrics.get("result", {}):
        lines.append("PSNR/SSIM: upload the ground truth to see them.")
    if not niqe_available:
        lines.append("NIQE: not available (start app.py with --niqe_params niqe_pris_params.npz, BasicSR's file).")
    if record["adapted"]:
        loss = record["face_loss"]
        lines.append(f"Adapted: **{s['adapt']}** ({s['optimizer']} lr {s['lr']:g} x{s['steps']}), "
                     f"face loss {loss[0]:.4f} → {loss[-1]:.4f}.")
    else:
        lines.append(f"Not adapted ({record['not_adapted_because']}): plain SR.")
    lines.append("Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in record["timings"].items()))
    for msg in record["warnings"]:
        lines.append(f"\n⚠ {msg}")
    return "\n".join(lines)


class Page:
    """The job behind the button: holds the loaded models and the restorers offered."""

    def __init__(self, enhancer, restorers, settings=enhance.Settings(), niqe_params=None):
        self.enhancer = enhancer
        self.restorers = restorers  # name -> restorer object, or None for 'none'
        self.settings = settings
        self.niqe_params = niqe_params

    @property
    def restorer_choices(self):
        return [n for n in NETWORK_RESTORERS if n in self.restorers] + ["gt", "none"]

    def run(self, photo, gt_photo, restorer_name, adapt, steps, paste, progress=None):
        """One job -> (slider pair, result, faces, W maps, figures, downloads). MetaF2NError on bad input."""
        progress = progress or (lambda fraction, desc=None: None)
        settings = enhance.check_settings(dataclasses.replace(
            self.settings, adapt=adapt, steps=None if steps in (None, "") else int(steps), paste_faces=bool(paste),
            plain=True))
        if photo is None:
            raise InputError("no photo: upload one first")
        lq, name, notes = _read_upload(photo, "photo", settings.max_pixels)
        gt = None
        if gt_photo is not None:
            gt, _, gt_notes = _read_upload(gt_photo, "ground truth", 16 * settings.max_pixels)
            notes += gt_notes
        if restorer_name == "gt":
            if gt is None:
                raise InputError("restorer 'gt' needs the ground truth: upload it, or choose another restorer")
            restorer = GroundTruthRestorer()
        elif restorer_name in self.restorers:
            restorer = self.restorers[restorer_name]
        else:
            raise InputError(f"restorer '{restorer_name}': not available (start app.py with its weights)")

        def show(stage, i, n):
            start, end = STAGE_SPAN.get(stage, (0.0, 1.0))
            text = STAGE_TEXT.get(stage, stage) + (f" {i}/{n}" if n > 1 or stage in ("adapt", "sr", "sr_plain") else "")
            progress(start + (end - start) * (i / n if n else 0.0), desc=text)

        result = self.enhancer.enhance(lq, restorer, gt, settings, name, show, self.niqe_params, notes)
        out_dir = tempfile.mkdtemp(prefix="metaf2n_app_")
        paths = enhance.save_result(out_dir, name, lq, result)
        faces = [(face_strip(p), f"face {p.index} (score {p.record['score']:.3f}): LQ | restored") for p in result.pairs]
        masks = [(w_image(m), f"face {p.index}: W min {m.min():.2f} mean {m.mean():.2f} max {m.max():.2f}")
                 for p, m in zip(result.pairs, result.masks)]
        figures = figures_markdown(result.record, self.niqe_params is not None)
        return (result.plain, result.image), result.image, faces, masks, figures, [paths["image"], paths["json"]]


def build_blocks(page):
    """The gr.Blocks of the page (not launched)."""
    import gradio as gr

    def job(photo, gt_photo, restorer_name, adapt, steps, paste, progress=gr.Progress()):
        try:
            return page.run(photo, gt_photo, restorer_name, adapt, steps, paste, progress)
        except MetaF2NError as e:
            raise gr.Error(str(e), print_exception=False) from None

    masknet = "MaskNet present: W maps below." if page.enhancer.has_masknet else "These weights have no MaskNet (W = 1)."
    plan_auto = enhance.resolve_plan("auto", page.enhancer.has_masknet)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as blocks:
        gr.Markdown(f"# {TITLE}\nUpload a low-quality photo with faces: the faces are found (RetinaFace), restored, "
                    "the x4 SR model is adapted on them, then the whole photo is super-resolved. "
                    f"SR weights: `{page.enhancer.model_dir}`. {masknet} "
                    f"`auto` = {plan_auto.name}: {plan_auto.why}.")
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(label="Photo (low quality)", type="filepath", image_mode=None, sources=["upload"],
                                 elem_id="photo")
                gt_photo = gr.Image(label="Ground truth, optional (4x the photo): enables restorer 'gt' and PSNR/SSIM",
                                    type="filepath", image_mode=None, sources=["upload"], elem_id="gt")
                restorer = gr.Dropdown(page.restorer_choices, value=page.restorer_choices[0], label="Face restorer",
                                       info="gt: the ground truth's faces (oracle); none: no adaptation",
                                       elem_id="restorer")
                adapt = gr.Radio(list(enhance.ADAPT_CHOICES), value="auto", label="Adaptation",
                                 info="original: SGD 0.01 x1 (the paper's); adam: Adam 1e-4 x10; none: plain SR",
                                 elem_id="adapt")
                steps = gr.Number(value=None, precision=0, minimum=0, label="Steps (empty: the setting's)",
                                  elem_id="steps")
                paste = gr.Checkbox(label="Paste the restored faces into the result", value=False, elem_id="paste")
                button = gr.Button("Enhance", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                slider = gr.ImageSlider(label="plain SR | adapted (drag)", type="numpy", format="png", elem_id="slider")
                figures = gr.Markdown(label="figures", elem_id="figures")
                result = gr.Image(label="Result (x4)", type="numpy", format="png", interactive=False, elem_id="result")
                download = gr.File(label="Download: result PNG and JSON record", file_count="multiple",
                                   interactive=False, elem_id="download")
        with gr.Row():
            faces = gr.Gallery(label="Detected faces: LQ (x4) | restored", columns=3, height=300,
                               object_fit="contain", elem_id="faces")
            masks = gr.Gallery(label="MaskNet W (face loss weights)", columns=3, height=300, object_fit="contain",
                               visible=page.enhancer.has_masknet, elem_id="masks")
        gt_photo.upload(lambda _: gr.update(value="gt"), gt_photo, restorer, preprocess=False,
                        api_visibility="private")
        button.click(job, [photo, gt_photo, restorer, adapt, steps, paste],
                     [slider, result, faces, masks, figures, download], preprocess=False,
                     api_name="enhance", concurrency_limit=1)
    blocks.queue(default_concurrency_limit=1, max_size=16)
    return blocks


def theme():
    """Gradio's default look with system fonts: nothing fetched from the internet or packaged font files."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def launch(page, host="127.0.0.1", port=7860, block=True):
    """Serves the page; returns (blocks, url). ``block=False`` returns at once (tests)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    blocks = build_blocks(page)
    _, url, _ = blocks.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True,
                              theme=theme(), footer_links=[], max_file_size="64mb", quiet=True, ssr_mode=False,
                              show_error=False, inbrowser=False)
    print(f"app.py: serving on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    if block:
        blocks.block_thread()
    return blocks, url
