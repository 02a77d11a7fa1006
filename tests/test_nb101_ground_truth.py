"""NB101 ground-truth adapters: the shared JSON files and the official TFRecord format (built with ``example_records``)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import needs_data

from harness.api.errors import CorruptDataError, UnknownNameError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery
from spaces.nb101 import ground_truth as gt
from spaces.nb101.encoding import make_cell
from spaces.nb101.sampling import sample_cell
from spaces.nb101.tfrecord import Record, encode_record, iter_records, read_benchmark, write_records


def _q(source: str, split: str, metric: str, red: str, dataset: str = "cifar10") -> GroundTruthQuery:
    return GroundTruthQuery("nb101", source, dataset, split, metric, red)


@needs_data()
def test_1k_is_the_20k_restricted_and_epochs_are_distinct_columns() -> None:
    gt.clear_cache()
    t1k = gt.Curves1kSource().load(_q("curves1k", "valid", "accuracy@108", "one-run"))
    t20 = gt.Hash20kSource().load(_q("hash20k", "valid", "accuracy@108", "one-run"))
    assert len(t1k) == 1000 and len(t20) == 20001
    assert np.array_equal(t20.lookup(t1k.arch_ids), t1k.values)
    assert 80 < np.median(t1k.values) < 100  # percent
    t4 = gt.Curves1kSource().load(_q("curves1k", "valid", "accuracy@4", "one-run"))
    assert np.mean(t4.values) < np.mean(t1k.values)
    assert t1k.provenance["checksum"].startswith("verified")
    cells = gt.Curves1kSource().cells()
    assert all(c.module_hash == h for h, c in list(cells.items())[:100])


@needs_data()
def test_naslib500_averages_rows_of_one_cell() -> None:
    t = gt.NasLib500Source().load(_q("naslib500", "valid", "accuracy@108", "mean-of-rows"))
    assert len(t) == 292 and t.provenance["n_rows"] == 500
    t20 = gt.Hash20kSource().load(_q("hash20k", "valid", "accuracy@108", "one-run"))
    common = sorted(set(t.arch_ids) & set(t20.arch_ids))
    assert len(common) == 17
    # Different draws of the same cells: close, not identical in general.
    assert np.max(np.abs(t.lookup(common) - t20.lookup(common))) < 2.0


def test_queries_outside_a_source_are_one_line_errors() -> None:
    with pytest.raises(UnknownNameError, match="seed reduction"):
        gt.Curves1kSource().validate(_q("curves1k", "valid", "accuracy@108", "mean"))
    with pytest.raises(UnknownNameError, match="did you mean"):
        gt.Curves1kSource().validate(_q("curves1k", "valid", "accuracy@100", "one-run"))
    with pytest.raises(UnknownNameError, match="split"):
        gt.NasLib500Source().validate(_q("naslib500", "test", "accuracy@108", "mean-of-rows"))


def _records(epochs=(4, 108), repeats=3, n=5, seed=0) -> list[Record]:
    rng = np.random.default_rng(seed)
    return gt.example_records([sample_cell(rng).pruned() for _ in range(n)], rng, epochs, repeats)


def test_tfrecord_round_trip_and_table(tmp_path, monkeypatch) -> None:
    recs = _records()
    path = tmp_path / "nasbench_full.tfrecord"
    write_records(path, [encode_record(r) for r in recs])
    back = list(read_benchmark(path))
    assert back == recs
    monkeypatch.setenv("WSBENCH_NB101_TFRECORD", str(path))
    gt.clear_cache()
    src = gt.TFRecordSource()
    assert src.available()[0]
    mean = src.load(_q("tfrecord", "test", "accuracy@108", "mean"))
    rep1 = src.load(_q("tfrecord", "valid", "accuracy@4", "repeat:1"))
    h = recs[0].module_hash
    want = 100 * np.mean([r.metrics.evaluation_data[2].test_accuracy for r in recs if r.module_hash == h and r.epochs == 108])
    assert mean.lookup([h])[0] == pytest.approx(want)
    second = [r for r in recs if r.module_hash == h and r.epochs == 4][1]
    assert rep1.lookup([h])[0] == pytest.approx(100 * second.metrics.evaluation_data[2].validation_accuracy)
    with pytest.raises(WsbenchError, match="no 36-epoch runs"):
        src.load(_q("tfrecord", "valid", "accuracy@36", "mean"))
    # The cell stored in the record hashes to the record's key.
    v = int(len(back[0].adjacency) ** 0.5)
    cell = make_cell(np.array([int(c) for c in back[0].adjacency]).reshape(v, v), list(back[0].ops))
    assert cell.module_hash == back[0].module_hash


def test_damaged_tfrecord_is_a_one_line_error(tmp_path) -> None:
    path = tmp_path / "f.tfrecord"
    write_records(path, [encode_record(r) for r in _records(n=1)])
    data = bytearray(path.read_bytes())
    (tmp_path / "trunc.tfrecord").write_bytes(bytes(data[:-7]))
    with pytest.raises(CorruptDataError, match="truncated"):
        list(iter_records(tmp_path / "trunc.tfrecord"))
    data[20] ^= 0xFF  # inside the first record's payload
    (tmp_path / "flip.tfrecord").write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="checksum"):
        list(iter_records(tmp_path / "flip.tfrecord"))
    (tmp_path / "junk.tfrecord").write_bytes(struct.pack("<Q", 3) + b"\0\0\0\0abc\0\0\0\0")
    with pytest.raises(CorruptDataError, match="length checksum"):
        list(iter_records(tmp_path / "junk.tfrecord"))


def test_tfrecord_missing_is_reported(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WSBENCH_NB101_TFRECORD", str(tmp_path / "absent.tfrecord"))
    ok, why = gt.TFRecordSource().available()
    assert not ok and "WSBENCH_NB101_TFRECORD" in why


def test_crc32c_known_vector_and_registration() -> None:
    from spaces.nb101.tfrecord import crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value
    from harness.catalog import GROUND_TRUTHS

    assert {"nb101/naslib500", "nb101/curves1k", "nb101/hash20k", "nb101/tfrecord"} <= set(GROUND_TRUTHS.names())
    assert GROUND_TRUTHS.get("nb101/hash20k") is gt.Hash20kSource


@needs_data()
def test_ground_truth_archs_are_the_tables_cells() -> None:
    from spaces.nb101.space import SPACE

    cells = SPACE.ground_truth_archs("curves1k")
    ids = [SPACE.arch_id(c) for c in cells]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    with pytest.raises(UnknownNameError):
        SPACE.ground_truth_archs("nope")
