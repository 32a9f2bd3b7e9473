"""The package's layering, read from the import statements: data -> models -> weights -> faces ->
adapt/train/metrics -> demo, enhance -> webapp (the page on top of enhance).

A module may import its own sub-package and any lower layer; never a higher layer, a sibling of its layer or a
top-level script. errors sits below everything, devices, cli and openvino_runtime just above it. faces is a
layer of its own because training makes its inner-loop labels with a face restorer (``train.loop`` -> ``faces.gpen``).
"""
import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "metaf2n_tf")
RANK = {"errors": -1, "atomic": 0, "devices": 0, "cli": 0, "openvino_runtime": 0, "data": 1, "models": 2,
        "weights": 3, "faces": 4, "adapt": 5, "train": 5, "metrics": 5, "demo": 6, "enhance": 6, "webapp": 7}
SCRIPTS = {"config", "main", "test", "demo", "calculate_metrics", "generate_test_faces", "generate_tfrecord",
           "restore_faces", "enhance", "app", "detect_landmarks"}


def _imports(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            if node.module == "metaf2n_tf":
                yield from (f"metaf2n_tf.{alias.name}" for alias in node.names)


def _violations():
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, PACKAGE)
            part = rel.split(os.sep)[0].removesuffix(".py")
            if part == "__init__":
                continue
            for module in _imports(path):
                top = module.split(".")[0]
                if top in SCRIPTS:
                    found.append(f"{rel} imports the script {module}")
                elif top == "metaf2n_tf" and module.count(".") >= 1:
                    other = module.split(".")[1]
                    if other != part and other in RANK and RANK[other] >= RANK[part]:
                        found.append(f"{rel} ({part}, layer {RANK[part]}) imports {module} (layer {RANK[other]})")
    return found


def test_no_module_imports_a_script_a_sibling_or_a_higher_layer():
    assert _violations() == []


def test_every_part_has_a_layer():
    parts = {p.removesuffix(".py") for p in os.listdir(PACKAGE) if not p.startswith("__")}
    assert parts - {"__pycache__", "assets"} <= set(RANK)  # assets/: data files, no Python
