"""The command line: bad input is one line on stderr with exit code 2, never a traceback."""

import os
import subprocess
import sys

import pytest
from conftest import needs_data

GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _run(args, **env):
    """``wsbench ARGS`` in this process (the entry point itself: ``test_the_entry_point_runs_as_a_module``),
    with ``env`` set meanwhile (None: unset); stdout, stderr and the exit code as a finished process."""
    import contextlib
    import io

    from harness.cli import main

    out, err, old = io.StringIO(), io.StringIO(), {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:  # argparse's usage errors and --help
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_the_entry_point_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "harness.cli", "gt", "nb210"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("wsbench: error: unknown search space 'nb210'"), done.stderr


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wsbench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize(
    "args,needles",
    [
        (["gt", "nb210"], ["unknown search space 'nb210'", "did you mean 'nb201'"]),
        (["arch", "nb201", "|nor_conv_3x3~0|+|conv~0|"], ["malformed NB201 arch string"]),
        (
            ["arch", "nb201", GOOD.replace("nor_conv_1x1", "x").replace("avg_pool_3x3", "avg_pool_5x5")],
            ["unknown NB201 op 'avg_pool_5x5'"],
        ),
        (["reproduce", "--profile", "quik"], ["unknown matrix 'quik'", "did you mean 'quick'"]),
        (["train", "--protocol", "nb201_rs"], ["unknown protocol 'nb201_rs'", "did you mean 'nb201-rs'"]),
        (["train", "--strategy", "spso"], ["unknown strategy 'spso'", "did you mean 'spos'"]),
    ],
)
def test_bad_input_is_one_line(args, needles):
    _assert_one_line_error(_run(args), *needles)


def test_missing_data_folder_names_the_setting(tmp_path):
    proc = _run(
        ["train", "--protocol", "quick", "--epochs", "1"],
        WSBENCH_DATA=str(tmp_path / "nope"),
        WSBENCH_RESULTS=str(tmp_path / "res"),
        WSBENCH_CACHE=str(tmp_path / "cache"),
    )
    _assert_one_line_error(proc, "WSBENCH_DATA")
    assert not (tmp_path / "res" / "runs").exists() or not any((tmp_path / "res" / "runs").rglob("result.json"))


@needs_data()
def test_arch_command_prints_facts_and_ground_truth():
    proc = _run(["arch", "nb201", GOOD])
    assert proc.returncode == 0, proc.stderr
    assert "official index: 1" in proc.stdout
    assert "nb201/csv:cifar10/test/accuracy@mean: 93.660" in proc.stdout


def test_list_names_every_registry():
    proc = _run(["list"])
    assert proc.returncode == 0
    assert "nb201" in proc.stdout and "spos" in proc.stdout and "quick" in proc.stdout and "nb201/analog" in proc.stdout


@needs_data()
@pytest.mark.parametrize(
    "query,needles",
    [
        (
            ["--source", "csv", "--dataset", "cifar1O", "--split", "test", "--metric", "accuracy", "--seed-reduction", "mean"],
            ["unknown dataset", "did you mean 'cifar10'"],
        ),
        (
            ["--source", "csv", "--dataset", "cifar10", "--split", "valid", "--metric", "accuracy", "--seed-reduction", "mean"],
            ["unknown split", "test"],
        ),
        (
            ["--source", "csv", "--dataset", "cifar10", "--split", "test", "--metric", "acc", "--seed-reduction", "mean"],
            ["unknown metric"],
        ),
        (
            ["--source", "csv", "--dataset", "cifar10", "--split", "test", "--metric", "accuracy", "--seed-reduction", "max"],
            ["seed reduction"],
        ),
        (["--source", "csv", "--dataset", "cifar10"], ["needs all of"]),
    ],
)
def test_bad_ground_truth_queries_are_one_line(query, needles):
    _assert_one_line_error(_run(["gt", "nb201", *query]), *needles)


def test_corrupt_ground_truth_file_is_one_line(tmp_path):
    import shutil

    data = os.environ.get("WSBENCH_DATA")
    if not data:
        pytest.skip("WSBENCH_DATA is not set")
    (tmp_path / "nb201").mkdir()
    src = os.path.join(data, "nb201", "nb201-test-acc-200ep.csv")
    text = open(src).read()
    (tmp_path / "nb201" / "nb201-test-acc-200ep.csv").write_text(text[: len(text) // 2])  # truncated
    shutil.copy(os.path.join(data, "SHA256SUMS"), tmp_path / "SHA256SUMS")
    q = [
        "gt",
        "nb201",
        "--source",
        "csv",
        "--dataset",
        "cifar10",
        "--split",
        "test",
        "--metric",
        "accuracy",
        "--seed-reduction",
        "mean",
    ]
    _assert_one_line_error(_run(q, WSBENCH_DATA=str(tmp_path)), "nb201-test-acc-200ep.csv")


@needs_data()
def test_ground_truth_query_writes_table(tmp_path):
    out = tmp_path / "t.csv"
    proc = _run(
        [
            "gt",
            "nb201",
            "--source",
            "analog",
            "--dataset",
            "cifar10",
            "--split",
            "test",
            "--metric",
            "accuracy",
            "--seed-reduction",
            "as-published",
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "15625 architectures" in proc.stdout
    assert len(out.read_text().splitlines()) == 15626


@needs_data()
def test_reproduce_prints_the_first_screen_then_the_reports_path(matrix_file, reference, tmp_path, monkeypatch, capsys):
    """The terminal gets the table per space and its paragraph, then where the full report is: not the whole report."""
    import shutil

    from harness.cli import main

    root = tmp_path / "results"
    shutil.copytree(reference.path, root)  # finished cells: reproduce only reports
    monkeypatch.setenv("WSBENCH_RESULTS", str(root))
    monkeypatch.setenv("CI", "1")
    capsys.readouterr()
    assert main(["reproduce", "--profile", str(matrix_file)]) == 0
    proc = capsys.readouterr()
    markdown = root / "reports" / "reproduce-exec-test.md"
    screen, _, last = proc.out.rstrip("\n").rpartition("\n\n")
    assert last.startswith(f"Full report: {markdown} (")
    assert screen.startswith("# wsbench reproduce — profile ")
    assert "\n## nb201 at a glance (1 strategy, 8 architectures" in screen
    assert [line.split("|")[1].strip() for line in screen.splitlines() if line.startswith("| spos")] == ["spos"]
    assert "Verdict against each ground truth" in screen and "the best training-free baseline (params, tau " in screen
    assert markdown.read_text().startswith(screen + "\n\n## Setup\n")
    for later in ("## Setup", "## Bootstrap intervals", "## Plots", "written:"):
        assert later not in proc.out, later
    assert len(proc.out.splitlines()) <= 40
    assert (root / "reports" / "reproduce-exec-test-first-screen.csv").exists()


# --------------------------------------------------------------------- wsbench train --set FIELD=VALUE


def _quick():
    from harness.catalog import PROTOCOLS

    return PROTOCOLS.get("quick")


def _settings(p, leave_out=("name",)):
    from harness.api.protocol import FIELDS

    return {k: getattr(p, k) for k in FIELDS if k not in leave_out}


def test_set_types_each_value_by_its_declared_option_and_renames_the_protocol():
    from harness.cli.train import train_protocol

    base = _quick()
    p = train_protocol(base, "nb201", sets=[("lr", "0.1"), ("task_options.subset", "600")])
    assert p.name == "quick+lr=0.1,subset=600"
    assert p.lr == 0.1 and type(p.lr) is float
    assert p.task_options == {**base.task_options, "subset": 600} and type(p.task_options["subset"]) is int
    assert _settings(p, ("name", "lr", "task_options")) == _settings(base, ("name", "lr", "task_options"))

    p = train_protocol(base, "nb201", sets=[("nesterov", "false"), ("grad_clip", "none"), ("snapshot_epochs", "10,20")])
    assert (p.nesterov, p.grad_clip, p.snapshot_epochs) == (False, None, (10, 20))
    assert p.name == "quick+grad_clip=None,nesterov=False,snapshot_epochs=10,20"
    p = train_protocol(base, "nb201", sets=[("task_options.augment", "false"), ("network.width", "0.5")])
    assert p.task_options["augment"] is False and p.network == {**base.network, "width": 0.5}
    assert train_protocol(base, "nb201", sets=[("lr", "0.1"), ("lr", "0.2")]).lr == 0.2  # the last one wins
    assert train_protocol(base, "nb201", sets=[("name", "mine"), ("lr", "0.1")]).name == "mine"
    assert train_protocol(base, "nb201") is base


def test_set_and_the_dedicated_flags_make_the_same_protocol():
    from harness.cli.train import train_protocol

    base = _quick()
    by_flags = train_protocol(base, "nb201", epochs=4, C=4, archset=("sample", 8))
    by_sets = train_protocol(base, "nb201", sets=[("epochs", "4"), ("network.C", "4"), ("archset", "sample"), ("archset_n", "8")])
    assert by_flags == by_sets and by_flags.name == "quick+C=4,archset=sample,archset_n=8,epochs=4"
    assert by_flags.snapshot_epochs == (2, 3, 4)  # a shorter run snapshots at its own last epochs
    assert train_protocol(base, "nb201", sets=[("epochs", "4"), ("snapshot_epochs", "4")]).snapshot_epochs == (4,)


@pytest.mark.parametrize(
    "kw,needles",
    [
        ({"sets": [("lrr", "0.1")]}, ["unknown protocol field 'lrr' in --set", "did you mean 'lr'"]),
        ({"sets": [("network", "8")]}, ["--set network.KEY=VALUE"]),
        ({"epochs": 3, "sets": [("epochs", "4")]}, ["--epochs changes epochs too"]),
        ({"sets": [("lr", "fast")]}, ["lr must be a finite number > 0.0, got 'fast'"]),
    ],
)
def test_bad_set_is_refused_in_one_line(kw, needles):
    from harness.api.errors import WsbenchError
    from harness.cli.train import train_protocol

    with pytest.raises(WsbenchError) as e:
        train_protocol(_quick(), "nb201", **kw)
    assert all(n in str(e.value) for n in needles) and "\n" not in str(e.value), str(e.value)


def test_unknown_set_field_is_one_line_and_writes_nothing(tmp_path):
    proc = _run(
        ["train", "--protocol", "nb201-smoke", "--set", "lr=0.1", "--set", "lrr=0.1"],
        WSBENCH_RESULTS=str(tmp_path / "res"),
        WSBENCH_CACHE=str(tmp_path / "cache"),
    )
    _assert_one_line_error(proc, "unknown protocol field 'lrr' in --set", "did you mean 'lr'")
    assert sorted(os.listdir(tmp_path)) == []


@needs_data()
@pytest.mark.slow
def test_train_with_set_runs_a_cell_of_the_typed_protocol(tmp_path):
    import json

    sets = ["lr=0.1", "task_options.subset=400", "epochs=1", "archset_n=8"]
    proc = _run(
        ["train", "--protocol", "nb201-smoke", *(a for s in sets for a in ("--set", s))],
        WSBENCH_RESULTS=str(tmp_path),
        CI="1",
    )
    assert proc.returncode == 0, proc.stderr
    (config,) = tmp_path.glob("runs/nb201/spos/*/seed0-*/config.json")
    assert config.parent.parent.name == "nb201-smoke+archset_n=8,epochs=1,lr=0.1,subset=400"
    protocol = json.loads(config.read_text())["protocol"]
    assert (protocol["lr"], protocol["subset"], protocol["epochs"], protocol["snapshot_epochs"]) == (0.1, 400, 1, [1])
