"""Bad inputs of ``wsbench score``, ``gt`` and ``curves``, table-driven by category (issue 28).

Every refused case asserts exit code 2, exactly one line on stderr starting ``wsbench: error:``,
no traceback, and that no file under the test's folder (inputs, results, ``--out``, data) was
written or removed. Categories (the case ids start with them; ``pytest --collect-only -q`` counts):

1. ``outside``: a score file's label used as a folder name. A label is display text: one that names
   a path is kept as written and only its slug becomes a folder; one a table cannot show is refused.
2. ``traceback``: inputs that once raised a traceback.
3. ``silent``: inputs that once gave a silently wrong result.
4. ``misleading``: errors that once named the wrong cause, a temporary file or a Python repr.
5. ``late``: inputs that once were checked only after the imported cell was written.
6. ``hangs``: work without bound or without a word.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, tree

from spaces.nb201.encoding import enumerate_archs, to_arch_str

ARCHS = [to_arch_str(a) for a in list(enumerate_archs())[:: 15625 // 12][:12]]
SCORES = {a: float(i) for i, a in enumerate(ARCHS)}
ANALOG = "analog,cifar10,test,accuracy,as-published"
CSV_GT = "csv,cifar10,test,accuracy,mean"


# ------------------------------------------------------------------------------------ helpers


def refused(argv: list[str], pattern: str, capsys, watch: Path) -> None:
    """``wsbench argv`` exits 2 with one ``wsbench: error:`` line matching ``pattern``; nothing under ``watch`` changes."""
    before = tree(watch)
    code, _, err = cli(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("wsbench: error: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert tree(watch) == before, "files were written or removed"


def j(obj) -> str:
    return json.dumps(obj)


def records(**fields) -> str:
    """A records score file, every record with ``fields``."""
    return j({"scores": [{"arch": a, "score": s, **fields} for a, s in SCORES.items()]})


def with_meta(**meta) -> str:
    return j({**meta, "scores": SCORES})


def raw_meta(text: str) -> str:
    """A scores object whose metadata is JSON text as written (repeated keys, NaN: what json.dumps never writes)."""
    return "{" + text + ', "scores": ' + j(SCORES) + "}"


def csv_text(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


ROWS = [f"{a},{s}" for a, s in SCORES.items()]
LIST_OP = "[((['nor_conv_3x3'], 0),), (('none', 0), ('none', 1)), (('none', 0), ('none', 1), ('none', 2))]"


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A working folder with an empty data folder and a results folder beside it (nothing else)."""
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("WSBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


# --------------------------------------------------------------------------- score: one table

# (id, files, extra argv, pattern); the score files are every file named *.json/*.csv/*.txt unless
# the extra argv starts with "files=" (then those, in order).
SCORE_CASES = [
    # 1. labels that cannot be a table row (the ones that name paths are in the next test)
    ("outside-label-list", {"a.json": with_meta(label=["a", "b"])}, [], r'label must be text, got \["a", "b"\]'),
    ("outside-label-number", {"a.json": with_meta(label=5)}, [], r"label must be text, got 5"),
    ("outside-label-newline", {"a.json": with_meta(label="a\nb")}, [], r"line break"),
    ("outside-label-tab", {"a.json": with_meta(label="a\tb")}, [], r"control character"),
    ("outside-label-pipe", {"a.json": with_meta(label="a|b")}, [], r"'a\|b' holds .* '\|'"),
    ("outside-label-500-characters", {"a.json": with_meta(label="x" * 500)}, [], r"500 characters long; give at most 80"),
    ("outside-label-empty", {"a.json": with_meta(label="")}, [], r"label is empty"),
    ("outside-label-option-pipe", {"a.json": j(SCORES)}, ["--label", "x|y"], r"--label 'x\|y'"),
    ("outside-label-option-blank", {"a.json": j(SCORES)}, ["--label", "  "], r"--label is empty"),
    ("outside-label-from-file-name", {"a|b.json": j(SCORES)}, [], r"file name of a\|b\.json \(pass --label\)"),
    # 2. once a traceback
    ("traceback-cost-list", {"a.json": with_meta(cost=[1, 2])}, [], r"cost must be an object .*got \[1, 2\]"),
    ("traceback-cost-number", {"a.json": with_meta(cost=3)}, [], r"cost must be an object .*got 3"),
    ("traceback-cost-text-hours", {"a.json": with_meta(cost={"device_hours": "abc"})}, [], r"device_hours .* got 'abc'"),
    ("traceback-genotype-list-where-an-op-goes", {"a.json": j({LIST_OP: 1.0, **SCORES})}, [], r"read as genotype .*wrong kind"),
    (
        "traceback-genotype-list-where-an-op-goes-named-format",
        {"a.json": j({LIST_OP: 1.0})},
        ["--key-format", "genotype"],
        r"key format genotype.*read as genotype",
    ),
    ("traceback-record-not-an-object", {"a.json": j({"scores": [1, 2]})}, [], r"scores\[0\] is 1, not a record"),
    ("traceback-record-arch-null", {"a.json": j({"scores": [{"arch": None, "score": 1}]})}, [], r'"arch": null'),
    ("traceback-json-nested-too-deep", {"a.json": "[" * 100_000 + "]" * 100_000}, [], r"nests JSON too deeply"),
    # 3. once silently wrong
    ("silent-duplicate-json-key", {"a.json": "{" + f'"{ARCHS[0]}": 1, ' + j(SCORES)[1:]}, [], r"appears twice in one JSON"),
    (
        "silent-duplicate-metadata-key",
        {"a.json": raw_meta('"label": "x", "label": "y"')},
        [],
        r"'label' appears twice",
    ),
    (
        "silent-fractional-epoch",
        {"a.json": records(epoch=1.5)},
        [],
        r"scores\[0\]: epoch is 1\.5, not an integer in 0\.\.100,000",
    ),
    ("silent-negative-epoch", {"a.json": records(epoch=-1)}, [], r"epoch is -1, not an integer"),
    ("silent-boolean-epoch", {"a.json": records(epoch=True)}, [], r"epoch is true, not an integer"),
    ("silent-fractional-seed", {"a.json": records(seed=0.5)}, [], r"seed is 0\.5, not an integer"),
    ("silent-negative-seed", {"a.json": records(seed=-3)}, [], r"seed is -3, not an integer"),
    ("silent-huge-seed", {"a.json": records(seed=10**20)}, [], r"seed is 100000000000000000000, not an integer in 0\.\.2,147"),
    ("silent-csv-fractional-epoch", {"a.csv": csv_text("arch,score,epoch", [r + ",2.5" for r in ROWS])}, [], r"line 2: epoch"),
    ("silent-boolean-score", {"a.json": j({a: True for a in ARCHS})}, [], r"score is true, not a finite number \(12 such"),
    ("silent-text-score", {"a.json": j({a: "1.0" for a in ARCHS})}, [], r"score is '1\.0', not a finite number"),
    ("silent-null-score", {"a.json": j({**SCORES, ARCHS[3]: None})}, [], r"score is null"),
    ("silent-negative-cost", {"a.json": with_meta(cost={"device_hours": -1})}, [], r"device_hours must be .*>= 0.*got -1"),
    ("silent-nan-cost", {"a.json": raw_meta('"cost": {"device_hours": NaN}')}, [], r"got NaN"),
    ("silent-infinite-cost", {"a.json": raw_meta('"cost": {"device_hours": Infinity}')}, [], r"got Infinity"),
    ("silent-boolean-cost", {"a.json": with_meta(cost={"device_hours": True})}, [], r"device_hours .* got true"),
    ("silent-cost-without-hours", {"a.json": with_meta(cost={"device": "A100"})}, [], r"cost states no device_hours"),
    ("silent-cost-unknown-field", {"a.json": with_meta(cost={"device_hour": 2})}, [], r"unknown cost field .*did you mean"),
    ("silent-cost-device-list", {"a.json": with_meta(cost={"device_hours": 1, "device": ["A100"]})}, [], r"cost\.device"),
    (
        "silent-repeated-score-column",
        {"a.csv": csv_text("arch,score,score", [r + ",9" for r in ROWS])},
        [],
        r"'score' appears twice",
    ),
    ("silent-repeated-score-column-case", {"a.csv": csv_text("arch,Score,score", [r + ",9" for r in ROWS])}, [], r"twice"),
    (
        "silent-two-arch-columns",
        {"a.csv": csv_text("arch,key,score", [f"{a},{a},1" for a in ARCHS])},
        [],
        r"two architecture columns",
    ),
    ("silent-typo-in-metadata", {"a.json": with_meta(higher_is_beter=False)}, [], r"did you mean 'higher_is_better'"),
    ("silent-typo-in-record", {"a.json": records(epcoh=3)}, [], r"unknown field .*'epcoh' \(did you mean 'epoch'\?\)"),
    ("silent-metadata-without-scores", {"a.json": j({"label": "x", "score": SCORES})}, [], r"but no \"scores\""),
    ("silent-newer-format", {"a.json": with_meta(wsbench_scores=2)}, [], r"wsbench_scores 2 is not a score-file format"),
    ("silent-direction-as-text", {"a.json": with_meta(higher_is_better="no")}, [], r"higher_is_better must be true or false"),
    ("silent-note-not-text", {"a.json": with_meta(note={"a": 1})}, [], r'note must be one line .*\{"a": 1\}'),
    # 4. once misleading
    ("misleading-label-like-a-reference-row", {"a.json": with_meta(label="random (baseline)")}, [], r"reference rows"),
    (
        "misleading-extra-field",
        {"a.csv": csv_text("arch,score", [*ROWS, ROWS[0] + ",7"])},
        [],
        r"line 14 has 3 fields but the header has 2",
    ),
    ("misleading-missing-field", {"a.csv": csv_text("arch,score", [*ROWS, ARCHS[0]])}, [], r"line 14 has 1 field but"),
    (
        "misleading-fractional-epochs-are-not-duplicates",
        {"a.json": j({"scores": [{"arch": ARCHS[0], "score": 1, "epoch": e} for e in (1.2, 1.7)]})},
        [],
        r"epoch is 1\.2, not an integer",
    ),
    ("misleading-json-not-python-repr", {"a.json": "{" + f'"{ARCHS[0]}": NaN, "{ARCHS[1]}": 1' + "}"}, [], r"score is NaN, not"),
    ("misleading-record-arch-as-json", {"a.json": j({"scores": [{"arch": ["x", 0], "score": 1}] * 2})}, [], r"'\[\"x\", 0\]'"),
    (
        "misleading-precise-key-reason",
        {"a.json": j({**SCORES, ARCHS[0].replace("none", "conv", 1): 2})},
        [],
        r"unknown NB201 op 'conv'",
    ),
    (
        "misleading-key-format-named-before-keys",
        {"a.json": j(SCORES)},
        ["--key-format", "offical"],
        r"^[^,]*key format .*'offical' \(did you mean 'official'",
    ),
    (
        "misleading-key-format-in-file",
        {"a.json": with_meta(key_format="naslb")},
        [],
        r"a\.json: key_format\) 'naslb' \(did you mean",
    ),
    ("misleading-json-in-a-txt-file", {"a.txt": j(SCORES)}, [], r"looks like JSON: name the file \.json"),
    ("misleading-folder-given-as-file", {"d/x.json": j(SCORES)}, ["files=d"], r"score file d is a folder, not a file"),
    ("misleading-device-is-not-missing", {}, ["files=/dev/null"], r"/dev/null is a pipe or device, not a file"),
    ("misleading-not-utf8", {"a.csv": b"arch,score\n\xe9,1\n"}, [], r"is not UTF-8 text"),
    ("misleading-empty-csv", {"a.csv": ""}, [], r"a\.csv is empty; write a header row"),
    # 5. once checked after the imported cell was written
    ("late-with-missing", {"a.json": j(SCORES)}, ["--with", "nowhere"], r"--with nowhere: no runs/ folder there"),
    ("late-with-empty", {"a.json": j(SCORES), "other/runs/notes.txt": "x"}, ["--with", "other"], r"holds no cell folders"),
    (
        "late-with-is-the-out-folder",
        {"a.json": j(SCORES), "o/runs/nb201/spos/p/seed0-1/config.json": "{}"},
        ["--with", "o", "--out", "o"],
        r"--with o is the folder the scores are written to",
    ),
    (
        "late-baseline-unknown",
        {"a.json": j(SCORES)},
        ["--baselines", "random,synflwo"],
        r"unknown baseline 'synflwo' \(did you mean 'synflow'",
    ),
    ("late-baseline-twice", {"a.json": j(SCORES)}, ["--baselines", "random,random"], r"'random' is named twice"),
    (
        "late-ground-truth-unknown-source",
        {"a.json": j(SCORES)},
        ["--ground-truth", "cvs,cifar10,test,accuracy,mean"],
        r"did you mean 'csv'",
    ),
    (
        "late-ground-truth-unknown-dataset",
        {"a.json": j(SCORES)},
        ["--ground-truth", "csv,cifar11,test,accuracy,mean"],
        r"dataset",
    ),
    (
        "late-ground-truth-four-fields",
        {"a.json": j(SCORES)},
        ["--ground-truth", "csv,cifar10,test,accuracy"],
        r"give source,dataset",
    ),
    ("late-ground-truth-twice", {"a.json": j(SCORES)}, ["--ground-truth", ANALOG, "--ground-truth", ANALOG], r"given twice"),
    ("late-ground-truth-not-here", {"a.json": j(SCORES)}, ["--ground-truth", CSV_GT], r"--ground-truth csv,.*not found at"),
    ("late-bootstrap-one", {"a.json": j(SCORES)}, ["--bootstrap", "1"], r"bootstrap must be 0 \(no intervals\) or"),
    ("late-out-is-a-file", {"a.json": j(SCORES), "f": "x"}, ["--out", "f"], r"score results folder f is a file"),
    ("late-out-runs-is-a-file", {"a.json": j(SCORES), "o/runs": "x"}, ["--out", "o"], r"o/runs is a file, not a folder"),
    (
        "late-labels-share-a-folder",
        {"a.json": j(SCORES), "b.json": j(SCORES)},
        ["--label", "a b", "--label", "a-b"],
        r"labels 'a b' and 'a-b' share the folder name 'a-b'",
    ),
    ("late-labels-equal", {"a.json": j(SCORES), "b.json": with_meta(label="a")}, [], r"two score files are labelled 'a'"),
    ("late-label-count", {"a.json": j(SCORES), "b.json": j(SCORES)}, ["--label", "x"], r"--label was given 1 time"),
    ("late-space-unknown", {"a.json": j(SCORES)}, ["--space", "nb210"], r"did you mean 'nb201'"),
    # 6. once unbounded
    ("hangs-bootstrap-unbounded", {"a.json": j(SCORES)}, ["--bootstrap", "100000000"], r"integer in 2\.\.10,000 .*got 100000000"),
    ("hangs-bootstrap-just-above-the-bound", {"a.json": j(SCORES)}, ["--bootstrap", "10001"], r"got 10001"),
]


@pytest.mark.parametrize("files,extra,pattern", [c[1:] for c in SCORE_CASES], ids=[c[0] for c in SCORE_CASES])
def test_bad_score_input_is_one_line_and_writes_nothing(files, extra, pattern, place, capsys):
    write(place, files)
    if extra and extra[0].startswith("files="):
        paths, extra = extra[0].removeprefix("files=").split(","), extra[1:]
    else:
        paths = [n for n in files if n.endswith((".json", ".csv", ".txt")) and "/" not in n]
    space = [] if "--space" in extra else ["--space", "nb201"]
    refused(["score", *paths, *space, "--bootstrap", "0", *extra], pattern, capsys, place)


def test_outside_a_label_naming_a_path_is_shown_as_written_and_only_its_slug_is_a_folder(place, capsys):
    """The issue's case end to end: a typo is refused with nothing written; the corrected command then runs."""
    label = "../../escape"
    write(place, {"a.json": with_meta(label=label)})
    argv = ["score", "a.json", "--space", "nb201", "--bootstrap", "0", "--ground-truth", ANALOG]
    refused([*argv, "--baselines", "randon"], r"did you mean 'random'", capsys, place)
    code, out, err = cli([*argv, "--baselines", "random"], capsys)
    assert code == 0, err
    written = {p for p in tree(place) if p != "a.json"}
    assert written and all(p.startswith("results/scores/escape/") for p in written), sorted(written)[:5]
    assert any(p.startswith("results/scores/escape/runs/nb201/imported/escape/seed0-") for p in written)
    assert f"**{label}**" in out and f"| {label} |" in out  # the label is display text, as written
    # What it is doing, once the checks passed (a large file takes a minute).
    assert re.search(r"checked 1 score file\(s\): 12 scores.*writing 1 imported cell", err), err


@pytest.mark.parametrize("label", ["..", "/etc/cron.d/x", "a/../../b", "~user", "-rf ."])
def test_outside_path_like_labels_become_folders_inside_the_results_folder(label, place):
    from harness.analysis.imported import plan_import, write_import
    from harness.analysis.score_command import out_folder
    from harness.analysis.score_files import read_score_file, slug
    from harness.catalog import SPACES

    write(place, {"a.json": with_meta(label=label)})
    files = [read_score_file("a.json", SPACES.get("nb201"))]
    assert files[0].label == label
    root = out_folder(None, files, ())
    write_import(plan_import(files, SPACES.get("nb201"), root, [tuple(ANALOG.split(","))]))
    results = (place / "results").resolve()
    written = [p for p in place.rglob("*") if p.is_file() and p.name != "a.json"]
    assert written and all(p.resolve().is_relative_to(results) for p in written)
    assert slug(label) not in ("", ".", "..") and "/" not in slug(label)


# --------------------------------------------------------------------------- gt and curves

GT_QUERY = ["--source", "csv", "--dataset", "cifar10", "--split", "test", "--metric", "accuracy", "--seed-reduction", "mean"]

GT_CASES = [
    ("silent-gt-unknown-baseline", ["gt", "nb201", "--baselines", "bogus"], r"unknown baseline 'bogus'"),
    ("silent-gt-baseline-typo", ["gt", "nb201", "--baselines", "params,synflw"], r"did you mean 'synflow'"),
    ("silent-gt-baseline-twice", ["gt", "nb201", "--baselines", "params,params"], r"named twice"),
    ("hangs-gt-bootstrap-unbounded", ["gt", "nb201", "--bootstrap", "100000000"], r"2\.\.10,000"),
    ("misleading-gt-out-is-a-folder", ["gt", "nb201", *GT_QUERY, "--out", "."], r"--out \. is a folder; give the path of a CSV"),
    ("hangs-curves-bootstrap-unbounded", ["curves", "--bootstrap", "100000000"], r"2\.\.10,000"),
    ("hangs-curves-bootstrap-one", ["curves", "--bootstrap", "1"], r"must be an integer in 2\.\.10,000"),
    ("late-curves-out-is-a-file", ["curves", "--out", "f"], r"score-file folder f is a file"),
    ("misleading-curves-one-fold", ["curves", "--folds", "1"], r"folds must be at least 2 "),
]


@pytest.mark.parametrize("argv,pattern", [c[1:] for c in GT_CASES], ids=[c[0] for c in GT_CASES])
def test_bad_gt_and_curves_arguments_are_one_line(argv, pattern, place, capsys):
    write(place, {"f": "x"})
    refused(argv, pattern, capsys, place)


def _example(root: Path, name: str) -> None:
    from harness.catalog import GROUND_TRUTHS

    GROUND_TRUTHS.get(name).write_example(root, np.random.default_rng(0))


def _header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines()[0] + "\n")


def _swap_top1_top5(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0].replace("accuracy,accuracy_top5", "accuracy_top5,accuracy"), *lines[1:]]) + "\n")


def _fractional_flops(path: Path) -> None:
    lines = path.read_text().splitlines()
    head, *rest = lines[1].rsplit(",", 2)
    path.write_text("\n".join([lines[0], f"{head},{int(rest[0]) + 0.5},{rest[1]}", *lines[2:]]) + "\n")


def _duplicate_cell(path: Path) -> None:
    obj = json.loads(path.read_text())
    obj["key"][1] = obj["key"][0]
    path.write_text(json.dumps(obj))


def _duplicate_json_key(path: Path) -> None:
    text = path.read_text().rstrip()
    path.write_text(text[:-1] + ', "final_training_time": [1.0]}')


def _query(space: str, source: str, dataset: str, split: str, metric: str, reduction: str) -> list[str]:
    return [
        "gt",
        space,
        "--source",
        source,
        "--dataset",
        dataset,
        "--split",
        split,
        "--metric",
        metric,
        "--seed-reduction",
        reduction,
    ]


DARTS = _query("darts", "seedpaper", "cifar10", "test", "accuracy", "seed:42")
PTB = _query("ptb", "seedpaper", "ptb", "valid", "perplexity", "seed:42")
PROXYLESS = _query("proxyless", "seedpaper", "imagenet", "val", "top1", "as-published")
CURVES_GT = _query("nb101", "curves1k", "cifar10", "valid", "accuracy@108", "one-run")

# (id, source whose example is written, file damaged, damage, argv, pattern)
GT_FILE_CASES = [
    ("silent-header-only-darts", "darts/seedpaper", "seedpaper/darts-cifar10.csv", _header_only, DARTS, r"darts-cifar10\.csv holds no architectures"),
    ("silent-header-only-darts-mean", "darts/seedpaper", "seedpaper/darts-cifar10-seed43.csv", _header_only, [*DARTS[:-1], "mean-of-seeds"], r"seed43\.csv holds no architectures"),
    ("silent-header-only-ptb", "ptb/seedpaper", "seedpaper/ptb.csv", _header_only, PTB, r"ptb\.csv holds no architectures"),
    ("silent-header-only-proxyless", "proxyless/seedpaper", "seedpaper/proxylessnas.csv", _header_only, PROXYLESS, r"holds no architectures"),
    ("silent-empty-nb101-table", "nb101/naslib500", "nb101/nb101-500-cifar10-val.json", lambda p: p.write_text("{}"), _query("nb101", "naslib500", "cifar10", "valid", "accuracy@108", "mean-of-rows"), r"holds no architectures"),
    ("silent-top1-top5-swapped", "proxyless/seedpaper", "seedpaper/proxylessnas.csv", _swap_top1_top5, PROXYLESS, r"accuracy_top5 .* is below accuracy .*swapped"),
    ("silent-fractional-flops", "proxyless/seedpaper", "seedpaper/proxylessnas.csv", _fractional_flops, PROXYLESS, r"line 2: flops is .*\.5, not a whole count"),
    ("traceback-curves-cell-twice-in-gt", "nb101/curves1k", "nb101/nb101-1k-curves.json", _duplicate_cell, CURVES_GT, r"duplicate architecture ids .* damaged"),
    ("traceback-curves-cell-twice", "nb101/curves1k", "nb101/nb101-1k-curves.json", _duplicate_cell, ["curves"], r"cell [0-9a-f]{32} is listed twice in 'key'"),
    ("misleading-curves-more-folds-than-cells", "nb101/curves1k", "nb101/nb101-1k-curves.json", lambda p: None, ["curves", "--folds", "5000"], r"folds must be 2\.\.\d+ for \d+ cells"),
    ("silent-curves-json-key-twice", "nb101/curves1k", "nb101/nb101-1k-curves.json", _duplicate_json_key, ["curves"], r"'final_training_time' appears twice"),
]  # fmt: skip


@pytest.mark.parametrize("source,relative,damage,argv,pattern", [c[1:] for c in GT_FILE_CASES], ids=[c[0] for c in GT_FILE_CASES])
def test_damaged_ground_truth_and_curve_files_are_one_line(source, relative, damage, argv, pattern, place, capsys):
    _example(place / "data", source)
    damage(place / "data" / relative)
    refused(argv, pattern, capsys, place)


def test_silent_a_header_only_file_is_listed_as_unreadable_not_available_with_0_architectures(place, capsys):
    _example(place / "data", "darts/seedpaper")
    _header_only(place / "data" / "seedpaper" / "darts-cifar10.csv")
    code, out, err = cli(["gt", "darts", "--bootstrap", "0"], capsys)
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("| darts/seedpaper"))
    assert "| no |" in row and "holds no architectures" in row and "| 0 |" not in out


def test_silent_float_labels_of_downsampled_imagenet_are_refused_not_truncated(tmp_path):
    from harness.api.errors import CorruptDataError
    from harness.data.generated import write_downsampled
    from harness.data.imagenet_downsampled import load_part

    root = write_downsampled(tmp_path / "imagenet32", side=32, classes=2, train_per_class=2, val_per_class=1)
    val = Path(root) / "val_data.npz"
    with np.load(val) as f:
        data, labels = f["data"], f["labels"].astype(np.float64)
    labels[0] += 0.7
    np.savez(val, data=data, labels=labels)
    with pytest.raises(CorruptDataError, match=r"val_data\.npz: label 1\.7 of image 0 is not a whole class number") as e:
        load_part(root, 32, "val", num_classes=2)
    assert "\n" not in str(e.value)
