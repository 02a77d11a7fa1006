"""Adding a space is one folder: a toy space, written into a temporary package outside the repository,
is discovered, validated and trained end to end through the normal command line, and nothing in the
repository is edited or written.

The folder brings its own space (a 2-choice grid of tiny conv nets), task (Gaussian blobs, no files),
ground truth (a CSV the test writes into the data folder) and protocol; ``WSBENCH_PLUGINS`` names the
package. Every command runs in a fresh process, as a user's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

INIT = '''
"""A toy search space: one folder that describes itself."""

PLUGINS = {
    "space": {"toy": ".space:SPACE"},
    "task": {"toy-blobs": ".task:TASK"},
    "ground_truth": {"toy/table": ".ground_truth:ToyTable"},
    "protocols": ["protocols.toml"],
}
'''

SPACE = '''
"""Two choices of three ops on 8x8 inputs: 9 architectures."""

import itertools

import torch
from torch import nn

from harness.api import space as api
from harness.seeded_init import init_parameters

OPS = ("conv", "pool", "skip")


class ToyNet(nn.Module):
    def __init__(self, C, classes, seed):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.convs = nn.ModuleList(nn.Conv2d(C, C, 3, padding=1, bias=False) for _ in range(2))
        self.head = nn.Linear(C, classes)
        init_parameters(self, seed)

    def forward(self, x, arch):
        x = torch.relu(self.stem(x))
        for conv, op in zip(self.convs, arch):
            x = torch.relu(conv(x)) if op == 0 else nn.functional.avg_pool2d(x, 3, 1, 1) if op == 1 else x
        return self.head(x.mean((2, 3)))


class ToySpace(api.Space):
    name = "toy"
    version = 1
    capabilities = frozenset({api.ENUMERABLE, api.ISOMORPHISM, api.GRID, api.HAS_BN})
    default_task = "toy-blobs"
    default_ground_truths = (("table", "blobs", "test", "accuracy", "one-run"),)
    network_defaults = {"C": 8}
    smoke_network = {"C": 4}
    smoke_protocol = "toy-smoke"
    num_archs = 9

    def choices(self):
        return tuple(api.Choice(f"layer {i}", OPS) for i in range(2))

    def sample(self, rng):
        return tuple(int(v) for v in rng.integers(0, 3, size=2))

    def parse(self, arch):
        from harness.api.errors import WsbenchError

        if isinstance(arch, str) and len(arch) == 2 and set(arch) <= set("012"):
            return tuple(int(c) for c in arch)
        if isinstance(arch, tuple) and len(arch) == 2 and all(v in (0, 1, 2) for v in arch):
            return arch
        raise WsbenchError(f"not a toy architecture: {arch!r}; write two digits in 0..2, e.g. '01'")

    def arch_id(self, arch):
        return "".join(str(v) for v in self.parse(arch))

    def all_archs(self):
        return list(itertools.product(range(3), repeat=2))

    def isomorphism_classes(self):
        return [[a] for a in self.all_archs()]

    def unique_representatives(self):
        return self.all_archs()

    def cost(self, arch, **network):
        C = network.get("C", 8)
        params = 3 * 9 * C + 2 * C + sum(9 * C * C for op in self.parse(arch) if op == 0) + C * 3 + 3
        return api.NetworkCost(params, params * 64)

    def build_supernet(self, network, task, seed):
        return ToyNet(network["C"], task.outputs, seed)


SPACE = ToySpace()
'''

TASK = '''
"""Three Gaussian blobs of 8x8 images: a classification task that needs no files."""

import torch
from torch import nn

from harness.api.space import TaskSpec
from harness.api.task import CellData, ScoreField, Task


class Blobs(Task):
    name = "toy-blobs"
    version = 1
    dataset = "blobs"
    score_fields = (ScoreField("accuracy", True, "percent correct"),)

    def spec(self):
        return TaskSpec(outputs=3)

    def _draw(self, n, g):
        y = torch.randint(0, 3, (n,), generator=g)
        x = torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
        return x, y

    def make_data(self, protocol, seed, device, arch_half=False):
        g = torch.Generator().manual_seed(1000 + seed)
        train = [self._draw(protocol.batch_size, g) for _ in range(6)]
        fixed = torch.Generator().manual_seed(7)  # the same scoring data for every seed
        calib = [self._draw(protocol.calib_batch_size, fixed) for _ in range(protocol.calib_batches)]
        evaluation = [self._draw(protocol.eval_batch_size, fixed)]
        return CellData(Loader(train, seed), calib, evaluation, 6 * protocol.batch_size, protocol.eval_batch_size)

    def loss(self, output, target):
        return nn.functional.cross_entropy(output, target)

    def correct(self, output, target):
        return (output.argmax(1) == target).sum()

    def synthetic_batch(self, n, generator):
        return self._draw(n, generator)

    @torch.no_grad()
    def evaluate(self, model, arch, batches):
        hits = sum(int((model(x, arch).argmax(1) == y).sum()) for x, y in batches)
        return {"accuracy": 100.0 * hits / sum(len(y) for _, y in batches)}


class Loader(list):
    """Fixed training batches with the random stream a checkpoint saves."""

    def __init__(self, batches, seed):
        super().__init__(batches)
        self.generator = torch.Generator().manual_seed(seed)


TASK = Blobs()
'''

GROUND_TRUTH = '''
"""The toy's ground truth: ``toy/table.csv`` (arch,accuracy) under WSBENCH_DATA."""

import pandas as pd

from harness.api.ground_truth import GroundTruthSource, GroundTruthTable
from harness.settings import data_file


class ToyTable(GroundTruthSource):
    space = "toy"
    source = "table"
    description = "a hand-written table of the nine toy networks"
    options = {("blobs", "test"): ("accuracy",)}
    seed_reductions = ("one-run",)
    higher_is_better = {"accuracy": True}

    def available(self):
        try:
            return True, str(data_file("toy/table.csv", "toy table"))
        except Exception as e:
            return False, str(e)

    def _load(self, query):
        frame = pd.read_csv(data_file("toy/table.csv", "toy table"), dtype={"arch": str})
        return GroundTruthTable(query, list(frame["arch"]), frame["accuracy"].to_numpy(), True)
'''

PROTOCOLS = """
[toy-smoke]
description = "The toy space's smallest run: 2 epochs of 6 batches, all 9 architectures"
network = { C = 4 }
epochs = 2
batch_size = 16
lr = 0.05
snapshot_epochs = [1, 2]
calib_batches = 1
calib_batch_size = 32
eval_batch_size = 64
archset = "all"
notes = "A test's toy."
"""

MATRIX = """
name = "toy"
seeds = [0, 1]
[[spaces]]
name = "toy"
protocol = "toy-smoke"
[[strategies]]
name = "spos"
[[strategies]]
name = "fairnas"
"""


def _write_plugin(root: Path) -> None:
    folder = root / "toyplugins" / "toy"
    folder.mkdir(parents=True)
    (root / "toyplugins" / "__init__.py").write_text("")
    for name, text in {"__init__.py": INIT, "space.py": SPACE, "task.py": TASK, "ground_truth.py": GROUND_TRUTH}.items():
        (folder / name).write_text(textwrap.dedent(text))
    (folder / "protocols.toml").write_text(PROTOCOLS)
    data = root / "data" / "toy"
    data.mkdir(parents=True)
    rows = [f"{a}{b},{50 + 10 * (a == 0) + 10 * (b == 0) + a - b}" for a in range(3) for b in range(3)]
    (data / "table.csv").write_text("arch,accuracy\n" + "\n".join(rows) + "\n")


def _wsbench(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{REPO}",
        "WSBENCH_PLUGINS": "toyplugins",
        "WSBENCH_DATA": str(root / "data"),
        "WSBENCH_RESULTS": str(root / "results"),
        "WSBENCH_CACHE": str(root / "cache"),
        "CI": "1",
    }
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _repo_state() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    _write_plugin(root)
    (root / "toy.toml").write_text(MATRIX)
    return root


def test_the_toy_folder_is_discovered_with_its_protocol_and_pairs(toy):
    listing = _wsbench(toy, "list", "--pairs")
    assert listing.returncode == 0, listing.stderr
    assert "toy" in listing.stdout.splitlines()[0] and "toy-smoke" in listing.stdout
    assert "toy x spos: runs" in listing.stdout and "toy x fairnas: runs" in listing.stdout
    assert "toy x darts: refused" in listing.stdout  # no mixed forward declared: refused with the reason


def test_the_toy_space_trains_scores_and_reports_without_any_other_edit(toy):
    before = _repo_state()
    run = _wsbench(toy, "matrix", "run", str(toy / "toy.toml"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(list((toy / "results" / "runs" / "toy").glob("*/toy-smoke/seed*/result.json"))) == 4
    report = _wsbench(toy, "report", "--root", str(toy / "results"))
    assert report.returncode == 0, report.stderr
    assert "## toy at a glance" in report.stdout and "Full report: " in report.stdout  # the terminal: the first screen
    text = (toy / "results" / "reports" / "report.md").read_text()
    assert "## toy · protocol `toy-smoke` (9 architectures)" in text
    assert "| spos | table:blobs/test |" in text and "**params (baseline)** | table:blobs/test" in text
    assert _repo_state() == before  # nothing in the repository was edited or written


def test_a_bad_value_in_the_toy_protocol_file_is_one_line_naming_the_file(toy, tmp_path):
    import shutil

    shutil.copytree(toy / "toyplugins", tmp_path / "toyplugins")
    (tmp_path / "data").symlink_to(toy / "data")
    path = tmp_path / "toyplugins" / "toy" / "protocols.toml"
    path.write_text(PROTOCOLS.replace("epochs = 2", "epochs = 0"))
    bad = _wsbench(tmp_path, "list")
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert str(path) in lines[0] and "[toy-smoke]" in lines[0] and "epochs must be an integer >= 1, got 0" in lines[0]
