"""``wsbench score``: score files in any key format give the report of a trained cell, nothing dropped silently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import needs_data

from harness.analysis.imported import common_archs
from harness.analysis.score_command import score_command
from harness.analysis.score_files import read_score_file
from harness.api.errors import WsbenchError
from harness.catalog import SPACES
from harness.cli import main
from spaces.nb201.encoding import OPS
from spaces.nb201.ground_truth import arch_to_naslib

NB201 = SPACES.get("nb201")
CSV_GT = "csv,cifar10,test,accuracy,mean"


def _archs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return sorted({NB201.arch_id(NB201.sample(rng)) for _ in range(n)})


def _genotype(arch_id: str) -> str:
    """The xautodl genotype-list text of a cell, each node's pairs in reverse input order."""
    ops = iter(NB201.parse(arch_id))
    return str([tuple((OPS[next(ops)], src) for src in range(t))[::-1] for t in (1, 2, 3)])


def _write_forms(tmp: Path, archs: list[str], scores: np.ndarray) -> dict[str, Path]:
    official = tmp / "official.csv"
    pd.DataFrame({"arch": archs, "score": scores}).to_csv(official, index=False)
    genotype = tmp / "genotype.csv"
    pd.DataFrame({"genotype": [_genotype(a) for a in archs], "score": scores}).to_csv(genotype, index=False)
    naslib = tmp / "naslib.json"
    body = {str(arch_to_naslib(NB201.parse(a))): float(s) for a, s in zip(archs, scores)}
    naslib.write_text(json.dumps({"label": "naslib", "key_format": "naslib", "higher_is_better": True, "scores": body}))
    return {"official": official, "genotype": genotype, "naslib": naslib}


def _metrics(root: Path) -> pd.DataFrame:
    frames = []
    for f in sorted(root.glob("runs/*/imported/*/*/metrics.csv")):
        frames.append(pd.read_csv(f).assign(label=f.parent.parent.name))
    return pd.concat(frames, ignore_index=True)


@needs_data()
def test_foreign_key_formats_give_identical_metrics_and_a_side_by_side_report(tmp_path):
    archs = _archs(80)
    scores = np.random.default_rng(1).normal(size=len(archs))
    files = _write_forms(tmp_path, archs, scores)
    text = score_command(
        [str(p) for p in files.values()], "nb201", out=str(tmp_path / "out"), ground_truths=[CSV_GT], bootstrap=50
    )
    m = _metrics(tmp_path / "out")
    wide = m.pivot_table(index=["metric"], columns="label", values="value")
    assert set(wide.columns) == {"official", "genotype", "naslib"}
    assert np.allclose(wide["official"], wide["genotype"]) and np.allclose(wide["official"], wide["naslib"])
    assert "Agreement between estimators" in text and "| genotype | naslib | 1.000 |" in text
    assert "Bootstrap intervals" in text and "params (baseline)" in text


def test_six_integer_keys_must_name_their_convention(tmp_path):
    path = tmp_path / "six.json"
    path.write_text(json.dumps({"(1, 2, 3, 4, 0, 1)": 1.0, "(0, 0, 0, 0, 0, 0)": 2.0}))
    with pytest.raises(WsbenchError, match="--key-format naslib"):
        read_score_file(path, NB201)
    # The two conventions read one key as two different cells.
    a = read_score_file(path, NB201, key_format="naslib").rows["arch"].tolist()
    b = read_score_file(path, NB201, key_format="tuple").rows["arch"].tolist()
    assert a != b


def test_undecodable_keys_name_the_first_and_the_count(tmp_path):
    archs = _archs(5)
    path = tmp_path / "bad.csv"
    pd.DataFrame({"arch": archs[:3] + ["|conv~0|+oops", "nonsense"], "score": range(5)}).to_csv(path, index=False)
    with pytest.raises(WsbenchError, match=r"2 of 5 keys are not nb201 architectures.*'\|conv~0\|\+oops'"):
        read_score_file(path, NB201)


def test_duplicate_architectures_are_refused_or_merged_with_a_note(tmp_path):
    archs = _archs(4)
    path = tmp_path / "dup.csv"
    keys = archs + [_genotype(archs[0])]  # the same cell written twice, in two forms
    pd.DataFrame({"arch": keys, "score": [1.0, 2.0, 3.0, 4.0, 5.0]}).to_csv(path, index=False)
    with pytest.raises(WsbenchError, match="1 architectures are scored more than once"):
        read_score_file(path, NB201)
    merged = read_score_file(path, NB201, duplicates="mean")
    assert len(merged.rows) == 4
    assert merged.rows.set_index("arch").at[archs[0], "score"] == 3.0
    assert merged.merged and "differed by up to 4" in merged.merged[0]


def test_a_loss_column_needs_a_declared_direction_and_lower_flips_the_ranking(tmp_path):
    archs = _archs(6)
    path = tmp_path / "loss.csv"
    pd.DataFrame({"arch": archs, "val_loss": np.arange(6.0)}).to_csv(path, index=False)
    with pytest.raises(WsbenchError, match="--direction lower"):
        read_score_file(path, NB201)
    low = read_score_file(path, NB201, direction="lower").rows.set_index("arch")["score"]
    high = read_score_file(path, NB201, direction="higher").rows.set_index("arch")["score"]
    assert np.array_equal(low.to_numpy(), -high.to_numpy())


def test_architectures_missing_from_one_file_are_listed_not_dropped_silently(tmp_path):
    archs = _archs(30)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"arch": archs, "score": range(30)}).to_csv(a, index=False)
    pd.DataFrame({"arch": archs[:25], "score": range(25)}).to_csv(b, index=False)
    common, notes = common_archs([read_score_file(a, NB201), read_score_file(b, NB201)])
    assert len(common) == 25
    assert len(notes) == 1 and "5 of its 30 architectures" in notes[0]


def test_nb101_naslib_tuples_and_module_hashes_read_as_the_same_cells(tmp_path):
    space = SPACES.get("nb101")
    rng = np.random.default_rng(0)
    codes = {"input": 0, "output": 1, "maxpool3x3": 2, "conv1x1-bn-relu": 3, "conv3x3-bn-relu": 4}
    cells: dict[str, object] = {}
    while len(cells) < 5:  # NASLib's tuple holds 7 vertices: keep sampled cells that have all 7, one per hash
        cell = space.parse(space.sample(rng))
        if cell.num_vertices == 7:
            cells.setdefault(space.arch_id(cell), cell)
    path = tmp_path / "nb101.json"
    keys = {
        str(tuple(np.asarray(c.matrix).flatten().tolist()) + tuple(codes[o] for o in c.ops)): float(i)
        for i, c in enumerate(cells.values())
    }
    path.write_text(json.dumps(keys))
    rows = read_score_file(path, space).rows
    assert sorted(rows["arch"]) == sorted(space.arch_id(c) for c in cells)


@needs_data()
def test_an_out_folder_with_other_imported_scores_is_refused(tmp_path):
    archs = _archs(10)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"arch": archs, "score": range(10)}).to_csv(a, index=False)
    pd.DataFrame({"arch": archs, "score": range(10, 0, -1)}).to_csv(b, index=False)
    out = tmp_path / "out"
    score_command([str(a)], "nb201", out=str(out), ground_truths=[CSV_GT], bootstrap=0)
    score_command([str(a)], "nb201", out=str(out), ground_truths=[CSV_GT], bootstrap=0)  # the same file again: idempotent
    with pytest.raises(WsbenchError, match="already holds 1 imported cell"):
        score_command([str(b)], "nb201", out=str(out), ground_truths=[CSV_GT], bootstrap=0)


def test_cli_gives_one_line_errors(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing.csv"), "--space", "nb201"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["score", str(bad), "--space", "nb201"]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


@needs_data()
def test_json_records_with_seeds_and_epochs_become_runs_with_stability_and_cost(tmp_path):
    archs = _archs(40)
    rng = np.random.default_rng(3)
    truthish = rng.normal(size=len(archs))
    records = [
        {"arch": a, "score": float(truthish[i] + 0.1 * rng.normal()), "epoch": epoch, "seed": seed}
        for seed in (0, 1)
        for epoch in (5, 10)
        for i, a in enumerate(archs)
    ]
    path = tmp_path / "runs.json"
    cost = {"device_hours": 2.5, "device": "one A100", "what": "two supernets"}
    path.write_text(json.dumps({"label": "other-supernet", "cost": cost, "scores": records}))
    out = tmp_path / "out"
    text = score_command([str(path)], "nb201", out=str(out), ground_truths=[CSV_GT], bootstrap=0)
    table = pd.read_csv(out / "reports" / "scores.csv")
    row = table[table["kind"] == "supernet"].iloc[0]
    assert row["n_seeds"] == 2 and row["epochs"] == "5,10" and row["device_hours"] == 2.5
    assert row["seed_pairwise_tau"] > 0.8  # the two runs share most of their ranking
    assert "2.5 device-hours on one A100 (two supernets)" in text


@needs_data()
def test_cells_of_another_results_folder_are_reported_beside(tmp_path):
    published = Path(__file__).resolve().parents[1] / "results" / "published" / "2026-11-22-h100"
    scores = pd.read_csv(next((published / "runs" / "nb201" / "spos").glob("*/seed0-*/scores/epoch_050.csv")))
    path = tmp_path / "spos.csv"
    scores[["arch", "accuracy"]].rename(columns={"accuracy": "score"}).to_csv(path, index=False)
    other = tmp_path / "other"  # the published NB201 cells only (NB101's ground truth needs the full enumeration)
    shutil.copytree(published / "runs" / "nb201", other / "runs" / "nb201")
    out = tmp_path / "out"
    text = score_command(
        [str(path)], "nb201", out=str(out), ground_truths=[CSV_GT], bootstrap=0, with_results=[str(other)], partial=True
    )
    assert "Beside them: 6 cell(s) linked" in text
    table = pd.read_csv(out / "reports" / "scores.csv")
    assert {"spos", "fairnas", "fewshot"} <= set(table["label"])
    linked = [p for p in (out / "runs" / "nb201").glob("*/*/*") if p.parts[-3] != "imported"]
    assert len(linked) == 6 and all(p.is_symlink() for p in linked)  # linked, not copied or moved
    assert len(list((other / "runs" / "nb201").glob("*/*/*"))) == 6


@needs_data()
def test_a_published_cells_scores_in_naslib_keys_reproduce_its_own_metrics(tmp_path):
    cell = next((Path(__file__).resolve().parents[1] / "results/published/2026-11-22-h100/runs/nb201/fewshot").glob("*/seed0-*"))
    snap = pd.read_csv(cell / "scores" / "epoch_050.csv")
    body = {str(arch_to_naslib(NB201.parse(a))): float(v) for a, v in zip(snap["arch"], snap["loss"])}
    path = tmp_path / "fewshot.json"
    path.write_text(json.dumps({"higher_is_better": False, "key_format": "naslib", "scores": body}))
    score_command([str(path)], "nb201", out=str(tmp_path / "out"), ground_truths=[CSV_GT], bootstrap=0)
    ours = _metrics(tmp_path / "out").set_index("metric")["value"]
    theirs = pd.read_csv(cell / "metrics.csv")
    theirs = theirs[(theirs["score"] == "neg_loss") & theirs["ground_truth"].str.startswith("nb201/csv")].set_index("metric")[
        "value"
    ]
    for metric in ("kendall_tau", "spearman_rho", "hit@5%", "br@1%", "tau_top10%"):
        assert ours[metric] == pytest.approx(theirs[metric], abs=1e-12), metric
