"""NB201 ground-truth adapters: the CSV export, analog-nasbench, the official .pth and NATS-Bench.

The .pth and NATS files are not on these machines, so the tests build small files in the real
formats with the sources' own writers (``write_pth``, ``write_nats``: the packages' result classes,
what the sources' examples use too) and check that each (dataset, split) reads the right numbers.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.api.errors import CorruptDataError, DataMissingError, UnknownNameError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery
from harness.catalog import GROUND_TRUTHS, load_ground_truth
from harness.fileio import sha256_file
from spaces.nb201 import ground_truth as gt
from spaces.nb201.encoding import EDGES, NUM_ARCHS, OPS, enumerate_archs, parse_arch_str, to_arch_str

REAL_DATA = os.environ.get("WSBENCH_DATA", "").strip()
CSV_REL = "nb201/nb201-test-acc-200ep.csv"


def one_line(err: BaseException) -> str:
    msg = str(err)
    assert msg and "\n" not in msg, f"error is not one line: {msg!r}"
    return msg


def q(source: str, dataset: str, split: str, metric: str = "accuracy", red: str = "mean") -> GroundTruthQuery:
    return GroundTruthQuery("nb201", source, dataset, split, metric, red)


@pytest.fixture(autouse=True)
def _fresh_cache():
    gt.clear_cache()
    yield
    gt.clear_cache()


def real_csv() -> Path:
    if not REAL_DATA or not (Path(REAL_DATA) / CSV_REL).is_file():
        pytest.skip("WSBENCH_DATA is not set or lacks nb201/nb201-test-acc-200ep.csv")
    return Path(REAL_DATA) / CSV_REL


# --------------------------------------------------------------------------- synthetic CSV


def write_csv(root: Path, n: int = NUM_ARCHS, seed: int = 0) -> tuple[Path, dict[str, list[float]]]:
    """A CSV in the export's format over the first n cells, with seeded random accuracies."""
    rng = np.random.default_rng(seed)
    path = root / CSV_REL
    path.parent.mkdir(parents=True, exist_ok=True)
    values: dict[str, list[float]] = {}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(gt.NB201CsvSource.HEADER)
        for i, arch in enumerate(enumerate_archs()):
            if i >= n:
                break
            row = [float(x) for x in rng.uniform(10, 95, size=3)]
            s = to_arch_str(arch)
            values[s] = row
            w.writerow([*row, s, f"u{i}"])
    return path, values


@pytest.fixture
def synth(tmp_path, monkeypatch):
    path, values = write_csv(tmp_path)
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    return path, values


def test_csv_reads_each_column(synth):
    path, values = synth
    src = gt.NB201CsvSource()
    for col, dataset in enumerate(("cifar10", "cifar100", "ImageNet16-120")):
        t = src.load(q("csv", dataset, "test"))
        assert len(t) == NUM_ARCHS and t.higher_is_better
        some = list(values)[::997]
        np.testing.assert_array_equal(t.lookup(some), [values[s][col] for s in some])
    assert t.provenance["sha256"] == sha256_file(path)
    assert t.provenance["checksum"] == "no SHA256SUMS beside the data"


def test_csv_normalises_arch_strings(tmp_path, monkeypatch):
    path, values = write_csv(tmp_path)
    text = path.read_text()
    first = next(iter(values))
    # Same cell, written with stray whitespace: must come out as the canonical string.
    path.write_text(text.replace(f",{first},", f", {first} ,", 1))
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    t = gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    assert t.lookup([first])[0] == values[first][0]


def test_csv_determinism_and_fingerprint_changes(tmp_path, monkeypatch, synth):
    path, values = synth
    src = gt.NB201CsvSource()
    f1 = src.load(q("csv", "cifar10", "test")).fingerprint
    gt.clear_cache()
    assert src.load(q("csv", "cifar10", "test")).fingerprint == f1
    # Change one value in a copy elsewhere: the fingerprint must change.
    other = tmp_path / "other"
    other_csv = other / CSV_REL
    other_csv.parent.mkdir(parents=True)
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[5].split(",")
    cells[0] = str(float(cells[0]) + 0.5)
    lines[5] = ",".join(cells)
    other_csv.write_text("".join(lines))
    monkeypatch.setenv("WSBENCH_DATA", str(other))
    assert src.load(q("csv", "cifar10", "test")).fingerprint != f1


def test_csv_truncated(tmp_path, monkeypatch):
    path, _ = write_csv(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(CorruptDataError) as e:
        gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    msg = one_line(e.value)
    assert str(path) in msg and "copy it again" in msg


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda ls: [ls[0].replace("UniqueString", "Unique")] + ls[1:], "header"),
        (lambda ls: ls[:2] + [ls[1]] + ls[3:], "duplicate"),
        (lambda ls: ls[:3] + [ls[3].replace("none~0", "conv~0", 1)] + ls[4:], "unknown NB201 op"),
        (lambda ls: ls[:4] + ["nan" + ls[4][ls[4].index(",") :]] + ls[5:], "not a finite number"),
    ],
)
def test_csv_structural_damage(tmp_path, monkeypatch, damage, needle):
    path, _ = write_csv(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(damage(lines)))
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(CorruptDataError) as e:
        gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    msg = one_line(e.value)
    assert needle in msg and str(path) in msg


def test_csv_checksum_mismatch(tmp_path, monkeypatch):
    path, _ = write_csv(tmp_path)
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  ./" + CSV_REL + "\n")
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(CorruptDataError) as e:
        gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    msg = one_line(e.value)
    assert "checksum" in msg and str(path) in msg


def test_csv_checksum_match_is_recorded(tmp_path, monkeypatch):
    path, _ = write_csv(tmp_path)
    (tmp_path / "SHA256SUMS").write_text(f"{sha256_file(path)}  ./{CSV_REL}\n")
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    t = gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    assert t.provenance["checksum"].startswith("verified against")


def test_csv_missing_file_and_missing_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    src = gt.NB201CsvSource()
    ok, why = src.available()
    assert not ok and CSV_REL in why
    with pytest.raises(DataMissingError) as e:
        src.load(q("csv", "cifar10", "test"))
    assert CSV_REL in one_line(e.value)
    monkeypatch.delenv("WSBENCH_DATA")
    with pytest.raises(DataMissingError) as e:
        src.load(q("csv", "cifar10", "test"))
    assert "WSBENCH_DATA" in one_line(e.value)
    assert src.available()[0] is False


@pytest.mark.parametrize(
    "query, needles",
    [
        (q("csv", "cifar1O", "test"), ["dataset", "did you mean 'cifar10'"]),
        (q("csv", "cifar10", "tset"), ["split", "did you mean 'test'"]),
        (q("csv", "cifar10", "valid"), ["split", "known: test"]),
        (q("csv", "cifar10", "test", metric="acuracy"), ["metric", "did you mean 'accuracy'"]),
        (q("csv", "cifar10", "test", red="meen"), ["seed reduction", "did you mean 'mean'", "no per-seed values"]),
        (q("csv", "cifar10", "test", red="seed:777"), ["seed reduction", "no per-seed values"]),
        (q("analog", "cifar10", "test", red="mean"), ["seed reduction", "as-published", "one training run"]),
        (q("analog", "cifar100", "test", red="as-published"), ["dataset", "known: cifar10"]),
        (q("nb201-pth", "cifar10", "valid"), ["split", "known: test"]),
        (q("nb201-pth", "cifar100", "test", red="seed:1"), ["seed reduction", "seed:777"]),
        (q("nats", "imagenet16-120", "test"), ["dataset", "did you mean 'ImageNet16-120'"]),
    ],
)
def test_bad_queries_are_one_line(query, needles):
    cls = {
        "csv": gt.NB201CsvSource,
        "analog": gt.AnalogNASBenchSource,
        "nb201-pth": gt.NB201PthSource,
        "nats": gt.NATSBenchSource,
    }
    with pytest.raises(UnknownNameError) as e:
        cls[query.source]().validate(query)
    msg = one_line(e.value)
    for n in needles:
        assert n in msg


# --------------------------------------------------------------------------- real CSV


def test_real_csv_matches_file_rows(monkeypatch):
    path = real_csv()
    monkeypatch.setenv("WSBENCH_DATA", REAL_DATA)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    t10 = gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    t100 = gt.NB201CsvSource().load(q("csv", "cifar100", "test"))
    assert len(t10) == NUM_ARCHS == len(rows)
    assert set(t10.arch_ids) == {to_arch_str(a) for a in enumerate_archs()}
    for row in rows[::1301]:
        a = row["ArchitectureString"]
        assert t10.lookup([a])[0] == float(row["CIFAR10TestAccuracy200Epochs"])
        assert t100.lookup([a])[0] == float(row["CIFAR100TestAccuracy200Epochs"])
    assert "verified" in t10.provenance["checksum"]


def test_real_csv_corrupt_copy_fails_checksum(tmp_path, monkeypatch):
    path = real_csv()
    (tmp_path / "nb201").mkdir()
    shutil.copy(Path(REAL_DATA) / "SHA256SUMS", tmp_path / "SHA256SUMS")
    data = bytearray(path.read_bytes())
    data[100] = ord("7") if data[100] != ord("7") else ord("3")
    (tmp_path / CSV_REL).write_bytes(bytes(data))
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(CorruptDataError) as e:
        gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    assert "copy it again" in one_line(e.value)


# --------------------------------------------------------------------------- analog-nasbench


def test_naslib_mapping_round_trip_and_example():
    seen = set()
    for arch in enumerate_archs():
        key = gt.arch_to_naslib(arch)
        assert gt.naslib_to_arch(key) == arch
        seen.add(key)
    assert len(seen) == NUM_ARCHS
    # NASLib positions 0->1, 0->2, 0->3, 1->2, 1->3, 2->3; codes 0 skip, 1 none, 2 3x3, 3 1x1, 4 pool.
    key = (2, 1, 0, 3, 4, 1)
    assert to_arch_str(gt.naslib_to_arch(key)) == (
        "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"
    )
    with pytest.raises(WsbenchError):
        gt.naslib_to_arch((0, 0, 0, 0, 0, 5))


def _reachable_by_matrix(arch) -> bool:
    """Input->output reachability by boolean matrix powers (independent of the adapter's walk)."""
    adj = np.zeros((4, 4), dtype=int)
    for (target, source), op in zip(EDGES, arch):
        if OPS[op] != "none":
            adj[source, target] = 1
    reach = np.linalg.matrix_power(adj + np.eye(4, dtype=int), 3)
    return bool(reach[0, 3])


def test_input_output_path():
    none = OPS.index("none")
    conv = OPS.index("nor_conv_3x3")
    assert not gt.has_input_output_path((none,) * 6)
    assert gt.has_input_output_path((none, none, none, conv, none, none))  # 3<-0 directly
    assert gt.has_input_output_path((conv, none, none, none, conv, none))  # 0->1->3
    assert not gt.has_input_output_path((conv, none, none, none, none, conv))  # 0->1, 2->3: broken
    assert gt.has_input_output_path((conv, none, conv, none, none, conv))  # 0->1->2->3
    flags = [gt.has_input_output_path(a) for a in enumerate_archs()]
    assert flags == [_reachable_by_matrix(a) for a in enumerate_archs()]
    assert flags.count(False) == 341


def analog_or_skip():
    ok, why = gt.AnalogNASBenchSource().available()
    if not ok:
        pytest.skip(why)


def test_analog_no_path_cells_score_chance():
    analog_or_skip()
    had = "pkg_resources" in sys.modules
    t = gt.AnalogNASBenchSource().load(q("analog", "cifar10", "test", red="as-published"))
    assert ("pkg_resources" in sys.modules) == had  # the stand-in is gone again
    assert len(t) == NUM_ARCHS
    cut = [to_arch_str(a) for a in enumerate_archs() if not gt.has_input_output_path(a)]
    linked = [to_arch_str(a) for a in enumerate_archs() if gt.has_input_output_path(a)]
    assert np.all(t.lookup(cut) == 10.0)
    assert np.all(t.lookup(linked) != 10.0)
    assert t.provenance["package"].startswith("analog-nasbench ")
    assert t.provenance["sha256"] == sha256_file(t.provenance["file"])


def test_analog_metrics_and_determinism():
    analog_or_skip()
    src = gt.AnalogNASBenchSource()
    base = src.load(q("analog", "cifar10", "test", red="as-published"))
    gt.clear_cache()
    again = src.load(q("analog", "cifar10", "test", red="as-published"))
    assert base.fingerprint == again.fingerprint
    ptq = src.load(q("analog", "cifar10", "test", metric="ptq_accuracy", red="as-published"))
    assert ptq.fingerprint != base.fingerprint
    assert not np.array_equal(ptq.lookup(base.arch_ids), base.values)


def test_analog_agrees_with_official_csv(monkeypatch):
    analog_or_skip()
    real_csv()
    monkeypatch.setenv("WSBENCH_DATA", REAL_DATA)
    from harness.metrics import kendall_tau

    a = gt.AnalogNASBenchSource().load(q("analog", "cifar10", "test", red="as-published"))
    c = gt.NB201CsvSource().load(q("csv", "cifar10", "test"))
    # A wrong key mapping scrambles cells and drops tau far below this.
    assert kendall_tau(a.lookup(c.arch_ids), c.values) > 0.85


def test_pkg_resources_shim_is_temporary(monkeypatch):
    if "pkg_resources" in sys.modules:
        pytest.skip("a real pkg_resources is loaded")
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "pkg_resources" else real_find(n, *a))
    with gt._pkg_resources_shim():
        import pkg_resources  # noqa: F401

        assert callable(sys.modules["pkg_resources"].resource_filename)
    assert "pkg_resources" not in sys.modules
    sentinel = object()
    monkeypatch.setitem(sys.modules, "pkg_resources", sentinel)
    with gt._pkg_resources_shim():
        assert sys.modules["pkg_resources"] is sentinel
    assert sys.modules["pkg_resources"] is sentinel


def test_analog_missing_package(monkeypatch):
    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "analognasbench" else real_find(n, *a))
    src = gt.AnalogNASBenchSource()
    ok, why = src.available()
    assert not ok and "pip install analog-nasbench" in why
    with pytest.raises(DataMissingError) as e:
        src.load(q("analog", "cifar10", "test", red="as-published"))
    assert "pip install analog-nasbench" in one_line(e.value)


# --------------------------------------------------------------------------- official-format files

FIX_ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
]
EVALUATED = [0, 1, 3, 5]  # cells 2 and 4 are listed but have no results: a partial file
SETS = gt.RESULT_SETS
EPOCHS = gt.BUDGET_EPOCHS


def seeds_of(idx: int) -> list[int]:
    return [777, 888] if idx == 3 else [777, 888, 999]  # cell 3 lacks seed 999


def fixture_values(seed: int = 0) -> dict[tuple, float]:
    """(idx, hp, dataset, set name, seed) -> last-epoch accuracy, all distinct."""
    rng = np.random.default_rng(seed)
    vals = {}
    for idx in EVALUATED:
        for hp in EPOCHS:
            for ds, sets in SETS.items():
                for sn in sets:
                    for s in seeds_of(idx):
                        vals[(idx, hp, ds, sn, s)] = float(np.round(rng.uniform(20, 95), 4))
    return vals


def runs_of(vals: dict, np_scalars: bool = False) -> gt.Runs:
    """The fixture's values as the writers take them: index -> budget -> (dataset, set name, seed) -> accuracy."""
    runs: gt.Runs = {}
    for (idx, hp, ds, sn, s), v in vals.items():
        runs.setdefault(idx, {}).setdefault(hp, {})[(ds, sn, s)] = np.float64(v) if np_scalars else v
    return runs


def expected(vals: dict, dataset: str, set_name: str, reduction: str) -> dict[str, float]:
    out = {}
    for idx in EVALUATED:
        seeds = seeds_of(idx)
        if reduction == "mean":
            out[FIX_ARCHS[idx]] = float(np.mean([vals[(idx, "200", dataset, set_name, s)] for s in seeds]))
        else:
            s = int(reduction.split(":")[1])
            if s in seeds:
                out[FIX_ARCHS[idx]] = vals[(idx, "200", dataset, set_name, s)]
    return out


def build_pth(path: Path, vals: dict, np_scalars: bool = False) -> None:
    gt.write_pth(path, list(FIX_ARCHS), runs_of(vals, np_scalars))


def build_nats(root: Path, vals: dict, simple: bool) -> Path:
    return gt.write_nats(root, list(FIX_ARCHS), runs_of(vals), simple)


CASES = [(ds, split) for (ds, split) in gt.NB201PthSource.options]
SET_OF = {
    ("cifar10-valid", "valid"): "x-valid",
    ("cifar10-valid", "test"): "ori-test",
    ("cifar10", "test"): "ori-test",
    ("cifar100", "valid"): "x-valid",
    ("cifar100", "test"): "x-test",
    ("cifar100", "valid+test"): "ori-test",
    ("ImageNet16-120", "valid"): "x-valid",
    ("ImageNet16-120", "test"): "x-test",
    ("ImageNet16-120", "valid+test"): "ori-test",
}


def check_table(table, want: dict[str, float]) -> None:
    assert sorted(table.arch_ids) == sorted(want)
    np.testing.assert_allclose(table.lookup(list(want)), list(want.values()), rtol=0, atol=1e-9)


def test_pth_reads_every_dataset_split(tmp_path, monkeypatch):
    vals = fixture_values()
    build_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", vals)
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    monkeypatch.delenv("WSBENCH_NB201_PTH", raising=False)
    src = gt.NB201PthSource()
    assert src.available()[0]
    assert set(CASES) == set(SET_OF)
    for ds, split in CASES:
        for red in ("mean", "seed:777", "seed:999"):
            t = src.load(q("nb201-pth", ds, split, red=red))
            check_table(t, expected(vals, ds, SET_OF[(ds, split)], red))
    t = src.load(q("nb201-pth", "cifar100", "valid", red="seed:999"))
    assert t.provenance["n_skipped_no_such_seed"] == 1 and t.provenance["n_archs"] == 3
    t = src.load(q("nb201-pth", "cifar10", "test"))
    assert t.provenance["n_archs"] == 4 and t.provenance["complete"] is False
    assert t.provenance["package"].startswith("nas-bench-201 ")


def test_pth_numpy_scalars_and_env_path(tmp_path, monkeypatch):
    vals = fixture_values(seed=1)
    path = tmp_path / "my-benchmark.pth"
    build_pth(path, vals, np_scalars=True)
    monkeypatch.delenv("WSBENCH_DATA", raising=False)
    monkeypatch.setenv("WSBENCH_NB201_PTH", str(path))
    t = gt.NB201PthSource().load(q("nb201-pth", "ImageNet16-120", "valid"))
    check_table(t, expected(vals, "ImageNet16-120", "x-valid", "mean"))
    assert t.provenance["file"] == str(path)


def test_pth_missing_and_corrupt(tmp_path, monkeypatch):
    monkeypatch.delenv("WSBENCH_NB201_PTH", raising=False)
    monkeypatch.delenv("WSBENCH_DATA", raising=False)
    src = gt.NB201PthSource()
    with pytest.raises(DataMissingError) as e:
        src.load(q("nb201-pth", "cifar10", "test"))
    assert "WSBENCH_NB201_PTH" in one_line(e.value)
    monkeypatch.setenv("WSBENCH_NB201_PTH", str(tmp_path / "nope.pth"))
    with pytest.raises(DataMissingError) as e:
        src.load(q("nb201-pth", "cifar10", "test"))
    assert "does not exist" in one_line(e.value)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file at all")
    monkeypatch.setenv("WSBENCH_NB201_PTH", str(bad))
    with pytest.raises(CorruptDataError) as e:
        src.load(q("nb201-pth", "cifar10", "test"))
    assert str(bad) in one_line(e.value)


@pytest.mark.parametrize("simple", [True, False])
def test_nats_reads_every_dataset_split(tmp_path, monkeypatch, simple):
    vals = fixture_values(seed=2)
    build_nats(tmp_path, vals, simple)
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    monkeypatch.delenv("WSBENCH_NATS_TSS", raising=False)
    src = gt.NATSBenchSource()
    assert src.available()[0]
    for ds, split in CASES:
        for red in ("mean", "seed:888", "seed:999"):
            t = src.load(q("nats", ds, split, red=red))
            check_table(t, expected(vals, ds, SET_OF[(ds, split)], red))
    assert t.provenance["package"].startswith("nats_bench ")


def test_nats_fingerprint_tracks_content(tmp_path, monkeypatch):
    vals = fixture_values(seed=3)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    build_nats(a, vals, simple=True)
    changed = dict(vals)
    changed[(0, "200", "cifar10", "ori-test", 777)] += 0.25
    build_nats(b, changed, simple=True)
    monkeypatch.delenv("WSBENCH_DATA", raising=False)
    src = gt.NATSBenchSource()
    prints = []
    for root in (a, a, b):
        gt.clear_cache()
        monkeypatch.setenv("WSBENCH_NATS_TSS", str(root / "NATS-tss-v1_0-3ffb9-simple"))
        prints.append(src.load(q("nats", "cifar10", "test")).fingerprint)
    assert prints[0] == prints[1] != prints[2]


def test_nats_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    monkeypatch.delenv("WSBENCH_NATS_TSS", raising=False)
    ok, why = gt.NATSBenchSource().available()
    assert not ok and "NATS-tss-v1_0-3ffb9" in why and "\n" not in why
    (tmp_path / "NATS-tss-v1_0-3ffb9-simple").mkdir()
    with pytest.raises(DataMissingError) as e:
        gt.NATSBenchSource().load(q("nats", "cifar10", "test"))
    assert "meta.pickle.pbz2" in one_line(e.value)


# --------------------------------------------------------------------------- registration


def test_the_space_folder_declares_its_ground_truths_for_the_catalog():
    assert GROUND_TRUTHS.names("nb201/*") == ["nb201/analog", "nb201/csv", "nb201/nats", "nb201/nb201-pth"]
    assert GROUND_TRUTHS.get("nb201/csv") is gt.NB201CsvSource
    for name in GROUND_TRUTHS.names("nb201/*"):
        cls = GROUND_TRUTHS.get(name)
        assert f"{cls.space}/{cls.source}" == name


def test_load_ground_truth_through_registry(synth):
    t = load_ground_truth("nb201", "csv", "cifar100", "test", "accuracy", "mean")
    assert len(t) == NUM_ARCHS
    assert all(parse_arch_str(a) for a in t.arch_ids[:10])
