"""Test order: files that hold slow tests first.

``make test`` runs two pytest-xdist workers that take whole files (``--dist loadfile``) in collection order.
Starting the long files (training runs, full-size models) first lets the many short files fill the gaps at
the end, instead of one long file running alone while the other worker idles.
"""


def pytest_collection_modifyitems(items):
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: the order inside each group stays
