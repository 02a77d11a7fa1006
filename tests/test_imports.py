"""Our top-level packages share names with unrelated PyPI packages; make sure ours are imported."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["harness", "spaces", "strategies"])
def test_package_resolves_to_this_repository(name):
    mod = __import__(name)
    assert Path(mod.__file__).resolve().parent == REPO / name


def test_console_script_entry_point_is_ours():
    from importlib.metadata import entry_points

    eps = [e for e in entry_points(group="console_scripts") if e.name == "wsbench"]
    assert eps and eps[0].value == "harness.cli:main"
