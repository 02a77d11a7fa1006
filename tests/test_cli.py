"""The command line: bad input is one line on stderr with exit code 2, never a traceback."""

import os
import subprocess
import sys

import pytest
from conftest import needs_data

GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def _run(args, **env):
    full_env = {**os.environ, **env}
    for k, v in env.items():
        if v is None:
            full_env.pop(k)
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=full_env, timeout=300)


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
