"""app.py in a real browser (Debian's headless Chromium driven by Playwright) and through gradio_client.

One server for the module: app.py on a free localhost port with a tiny random SR model (1 block, with a
MaskNet) so a job takes seconds. The page must: load with no request leaving 127.0.0.1, take the demo
photo and its ground truth, run, show the result image and the PSNR figures; through gradio_client the
same job must give enhance.py's result for the same settings (max 1 grey level), and an upload over
``--max_pixels`` must come back as a clear error, not a crash.

``METAF2N_APP_MODEL=realesrgan-x4plus`` runs the page with the real model instead (slow; how the README's
screenshot was made); ``METAF2N_APP_SCREENSHOT=docs/app.png`` also writes the screenshot there.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest
from skimage import data

from metaf2n_tf.demo import degrade
from tests.reference_tf1 import random_tensors
from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MAX_PIXELS = 20000  # the 128x128 demo photo fits; a 160x160 one does not
STARTUP_S = 600  # importing TensorFlow and Gradio on 2 busy cores
JOB_S = 600
STEPS = 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return str(path)


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from metaf2n_tf.weights import h5

    root = tmp_path_factory.mktemp("app")
    gt = data.astronaut()
    model = os.environ.get("METAF2N_APP_MODEL") or h5.write_h5(root / "tiny.h5", random_tensors(num_block=1, seed=3))
    big = np.full((160, 160, 3), 128, np.uint8)
    return {"root": root, "model": str(model), "lq": _write(root / "LQ" / "astronaut.png", degrade(gt)),
            "gt": _write(root / "GT" / "astronaut.png", gt), "big": _write(root / "big.png", big)}


@pytest.fixture(scope="module")
def server(files):
    port = _free_port()
    log = open(files["root"] / "app.log", "w")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "app.py"), f"--model_dir={files['model']}",
                             f"--port={port}", f"--max_pixels={MAX_PIXELS}", "--gpu="],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"app.py did not start: {(files['root'] / 'app.log').read_text()[-2000:]}")
        time.sleep(1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _enhance_script():
    return load_script("enhance.py")


def test_binds_localhost_only(server):
    assert urlparse(server).hostname == "127.0.0.1"


def test_gradio_client_equals_enhance_py(server, files, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    out = client.predict(handle_file(files["lq"]), handle_file(files["gt"]), "gt", "adam", STEPS, False,
                         api_name="/enhance")
    slider, result, faces, masks, figures, downloads = out
    page = _read(result)
    assert page.shape == (512, 512, 3)
    assert len(faces) == 1 and len(masks) == 1  # the astronaut's one face; the tiny model has a MaskNet
    assert "PSNR-Y" in figures and "adam" in figures
    assert sorted(os.path.splitext(p)[1] for p in downloads) == [".json", ".png"]
    rc = _enhance_script().main(["-i", files["lq"], "-o", str(tmp_path), f"--model_dir={files['model']}",
                                 "--restorer=gt", f"--gt_dir={os.path.dirname(files['gt'])}", "--adapt=adam",
                                 f"--steps={STEPS}", "--gpu="])
    assert rc == 0
    cli = _read(tmp_path / "astronaut.png")
    assert np.abs(page.astype(int) - cli.astype(int)).max() <= 1
    plain = _read(slider[0])
    assert np.abs(plain.astype(int) - page.astype(int)).max() > 0  # the adapted result differs from plain SR


def test_gradio_client_refuses_oversize_upload(server, files):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    with pytest.raises(Exception) as info:
        client.predict(handle_file(files["big"]), None, "none", "none", None, False, api_name="/enhance")
    assert "over --max_pixels" in str(info.value) and "big.png" in str(info.value)
    # The server is still there and serves the next job.
    with urllib.request.urlopen(server, timeout=30) as r:
        assert r.status == 200


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
def test_page_in_headless_chromium(server, files, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) not installed")
    outside = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1180})

        def route(r):
            host = urlparse(r.request.url).hostname
            if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(server, wait_until="networkidle", timeout=120_000)
        page.set_input_files("#photo input[type=file]", files["lq"])
        page.set_input_files("#gt input[type=file]", files["gt"])
        page.get_by_label("adam").check()
        page.locator("#steps input").fill(str(STEPS))
        page.wait_for_timeout(1000)  # the uploads settle (the ground truth switches the restorer to gt)
        page.locator("#run").click()
        page.wait_for_selector("#figures :text('PSNR-Y')", timeout=JOB_S * 1000)
        figures = page.locator("#figures").inner_text()
        result_src = page.locator("#result img").get_attribute("src")
        page.wait_for_timeout(2000)  # the result images load
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot))  # the window: inputs, slider, figures, result
        browser.close()
    assert "PSNR-Y" in figures and "result" in figures
    assert result_src and "127.0.0.1" in result_src
    assert outside == []  # nothing fetched from the internet
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] >= 1000
    target = os.environ.get("METAF2N_APP_SCREENSHOT")
    if target:
        from PIL import Image

        small = cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)[..., ::-1]
        Image.fromarray(np.ascontiguousarray(small)).quantize(colors=256).save(os.path.join(ROOT, target), optimize=True)
