"""Matrix files: strict parsing with one-line errors, cell order and identity, shipped matrices."""

import re
import textwrap

import pytest

from harness.api.errors import WsbenchError
from harness.run.matrix import load_matrix, resolve_matrix, shipped_matrices

GOOD = """
name = "t"
seeds = [1, 0]
[[spaces]]
name = "nb201"
protocol = "quick"
overrides = { epochs = 3, snapshot_epochs = [2, 3], network = { C = 4 }, lr = 1 }
ground_truths = [["analog", "cifar10", "test", "accuracy", "as-published"]]
[[strategies]]
name = "spos"
label = "uni"
[[strategies]]
name = "spos"
label = "deiso"
options = { sampling = "deisomorphic" }
"""


def _write(tmp_path, text, name="m.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path, text):
    with pytest.raises(WsbenchError) as info:
        load_matrix(_write(tmp_path, text))
    msg = str(info.value)
    assert "\n" not in msg and "m.toml" in msg, msg
    return msg


def test_cells_are_ordered_and_resolved(tmp_path):
    m = load_matrix(_write(tmp_path, GOOD))
    got = [(m.label(c), c.seed) for c in m.cells()]
    assert got == [("deiso", 0), ("deiso", 1), ("uni", 0), ("uni", 1)]
    c = m.cells()[0]
    assert c.protocol.epochs == 3 and c.protocol.snapshot_epochs == (2, 3) and c.protocol.network["C"] == 4
    assert c.protocol.lr == 1.0 and isinstance(c.protocol.lr, float)
    assert c.protocol.name == "quick+t"  # overrides without a name get the matrix's
    assert c.strategy_options == {"sampling": "deisomorphic"} and c.device == "cpu"
    assert c.ground_truths == (("analog", "cifar10", "test", "accuracy", "as-published"),)
    assert len({x.cell_hash() for x in m.cells()}) == 4
    assert m.labels() == {x.cell_hash(): m.label(x) for x in m.cells()}
    assert m.cells() == load_matrix(_write(tmp_path, GOOD)).cells()


def test_a_strategy_runs_only_on_the_space_protocol_pairs_it_names(tmp_path):
    two = GOOD.replace('label = "uni"', 'label = "uni"\nspaces = ["nb201/quick"]').replace(
        '[[strategies]]\nname = "spos"\nlabel = "uni"',
        '[[spaces]]\nname = "nb201"\nprotocol = "nb201-smoke"\n[[strategies]]\nname = "spos"\nlabel = "uni"',
    )
    m = load_matrix(_write(tmp_path, two))
    got = sorted({(m.label(c), c.protocol.name) for c in m.cells()})
    # "uni" names the quick entry as its table names it (overrides renamed it quick+t); "deiso" runs on both
    assert got == [("deiso", "nb201-smoke"), ("deiso", "quick+t"), ("uni", "quick+t")]
    renamed = two.replace('spaces = ["nb201/quick"]', 'spaces = ["nb201/quick+t", "nb201/nb201-smoke"]')
    assert len(load_matrix(_write(tmp_path, renamed)).cells()) == 8


def test_quick_matrix_runs_every_registered_strategy_and_baseline_at_equal_compute():
    # `make reproduce` runs this matrix: NB201 x SPOS x seeds 0, 1 (issue 3) and every strategy and
    # training-free baseline beside it (issue 6), all under one equal-compute protocol.
    from harness.baselines import BASELINES
    from harness.catalog import STRATEGIES, pairings

    # sandwich needs width choices; the seed paper's tricks (kind "trick") run in matrices/tricks.toml
    on_nb201 = {
        p.strategy for p in pairings() if p.space == "nb201" and p.allowed and STRATEGIES.get(p.strategy).kind == "estimator"
    }
    m = load_matrix("quick")
    cells = m.cells()
    assert m.device == "cpu"
    assert {c.strategy for c in cells} == on_nb201 and "spos" in on_nb201
    assert all(sorted(c.seed for c in cells if c.strategy == s) == [0, 1] for s in on_nb201)
    assert {c.protocol.name for c in cells} == {"quick-all"} and all(c.protocol.equal_compute for c in cells)
    assert set(m.baselines) | {"params"} == set(BASELINES.names())


def test_tricks_matrix_runs_every_trick_beside_spos():
    from harness.catalog import STRATEGIES

    tricks = {n for n in STRATEGIES.names() if STRATEGIES.get(n).kind == "trick"}
    assert tricks == {"omniscience", "trainsplit", "focusbranch"}
    m = load_matrix("tricks")
    cells = m.cells()
    assert {c.strategy for c in cells} == tricks | {"spos"}
    assert {"omni-top", "omni-random"} <= {m.label(c) for c in cells}  # the oracle third and its control
    assert all(sorted(c.seed for c in cells if m.label(c) == lbl) == [0, 1] for lbl in {m.label(c) for c in cells})


def test_shipped_matrices_load_and_resolve_by_name():
    assert {"quick", "ci", "full"} <= set(shipped_matrices())
    full = load_matrix("full")
    assert full.device == "cuda" and len(full.cells()) == 9
    assert {full.label(c) for c in full.cells()} == {"spos", "spos-deiso"}
    ci = load_matrix("ci")
    assert ci.cells()[0].protocol.name == "ci" and ci.cells()[0].protocol.network["C"] == 4
    assert resolve_matrix("ci") == shipped_matrices()["ci"]
    with pytest.raises(WsbenchError, match="did you mean 'quick'"):
        resolve_matrix("quik")
    with pytest.raises(WsbenchError, match="not found"):
        resolve_matrix("nowhere/m.toml")


def test_data_key_overrides_and_must_exist(tmp_path):
    (tmp_path / "d").mkdir()
    m = load_matrix(_write(tmp_path, 'data = "d"\n' + GOOD))
    assert m.data == tmp_path / "d"  # relative to the matrix file
    msg = _error(tmp_path, 'data = "missing-folder"\n' + GOOD)
    assert "data" in msg and "missing-folder" in msg and "does not exist" in msg


@pytest.mark.parametrize(
    "edit, expect",
    [
        (
            ('name = "spos"\nlabel = "uni"', 'name = "spso"\nlabel = "uni"'),
            r"strategies\[0\]\.name: unknown strategy 'spso' \(did you mean 'spos'\?\)",
        ),
        (('protocol = "quick"', 'protocol = "quik"'), r"unknown protocol 'quik' \(did you mean 'quick'\?\)"),
        (('name = "nb201"', 'name = "nb210"'), r"unknown search space 'nb210' \(did you mean 'nb201'\?\)"),
        (
            ('["analog"', '["analogue"'),
            r"ground_truths\[0\]: unknown ground-truth source 'nb201/analogue' \(did you mean 'nb201/analog'\?\)",
        ),
        (('"as-published"', '"mean"'), r"unknown seed reduction"),
        (("epochs = 3,", "epochs = -3,"), r"epochs must be an integer >= 1, got -3"),
        (("snapshot_epochs = [2, 3]", "snapshot_epochs = [2, 4]"), r"snapshot_epochs \[2, 4\] must be .*within 1..3"),
        (("epochs = 3, snapshot_epochs = [2, 3], ", "epochs = 3, "), r"snapshot_epochs .* set overrides.snapshot_epochs"),
        (("overrides", "overides"), r"unknown key 'overides' in spaces\[0\] \(did you mean 'overrides'\?\)"),
        (("network = { C = 4 }", "channels = 4"), r"unknown protocol field 'channels'"),
        (("network = { C = 4 }", "epoch = 4"), r"unknown protocol field 'epoch' .*\(did you mean 'epochs'\?\)"),
        (("seeds = [1, 0]", "seed = [1, 0]"), r"unknown key 'seed' in the top level \(did you mean 'seeds'\?\)"),
        (("C = 4", 'C = "4"'), r"overrides.network.C: must be a positive integer for space 'nb201', got '4'"),
        (("C = 4", "C = 4.0"), r"overrides.network.C: must be a positive integer for space 'nb201', got 4.0"),
        (("network = { C = 4 }", "C = 4"), r"unknown protocol field 'C' .*network keys go in .*overrides.network"),
        (
            ("network = { C = 4 }", "network = { channels = 4 }"),
            r"overrides.network: unknown key\(s\) channels for space 'nb201'",
        ),
        (
            ("network = { C = 4 }", "augment = 1"),
            r"overrides: augment is a task option now: write task_options = \{ augment = \.\.\. \}",
        ),
        (("network = { C = 4 }", "task_options = { augment = 1 }"), r"task option augment must be true or false, got 1"),
        (
            ("network = { C = 4 }", "task_options = { augmnt = true }"),
            r"unknown task option\(s\) augmnt for task 'cifar10' \(did you mean 'augment'\?\)",
        ),
        (("snapshot_epochs = [2, 3]", "snapshot_epochs = 3"), r"snapshot_epochs: must be a list of integers"),
        (("seeds = [1, 0]", 'seeds = "0"'), r"seeds: must be a list, got '0' \(string\)"),
        (("seeds = [1, 0]", "seeds = [0, -1]"), r"seeds: must be a non-empty list of integers in 0\.\.2147483647"),
        (("seeds = [1, 0]", "seeds = [0, 0]"), r"repeats a seed"),
        (('name = "t"', 'name = "t"\nworkers = true'), r"workers: must be an integer, got True \(boolean\)"),
        (('name = "t"', 'name = "t"\ndevice = "gpu"'), r"device: must be one of cpu, cuda, auto"),
        (('options = { sampling = "deisomorphic" }', 'options = { sampling = "deisomorphc" }'), r"did you mean 'deisomorphic'"),
        (('options = { sampling = "deisomorphic" }', 'options = { samplng = "uniform" }'), r"unknown option\(s\) samplng"),
        (('label = "deiso"', 'label = "uni"'), r"label: 'uni' is used twice"),
        (('label = "deiso"\noptions = { sampling = "deisomorphic" }', 'label = "deiso"'), r"resolve to the same configuration"),
        (
            ('label = "uni"', 'label = "uni"\nspaces = ["nb20"]'),
            r"'nb20' is not a space of this matrix \(did you mean 'nb201'\?\)",
        ),
        (
            ('label = "uni"', 'label = "uni"\nspaces = ["nb201/quik"]'),
            r"'nb201/quik' is not a space of this matrix \(did you mean 'nb201/quick'\?\)",
        ),
    ],
)
def test_bad_matrix_is_a_one_line_error(tmp_path, edit, expect):
    old, new = edit
    assert old in GOOD, old
    msg = _error(tmp_path, GOOD.replace(old, new, 1))
    assert re.search(expect, msg), msg


def test_duplicate_key_names_file_and_line(tmp_path):
    msg = _error(tmp_path, GOOD.replace('label = "uni"', 'label = "uni"\nname = "spos"'))
    assert "m.toml:12:" in msg and "set twice" in msg, msg
    msg = _error(tmp_path, GOOD.replace("C = 4", "C = 4, C = 8"))
    assert "m.toml:7:" in msg and "Duplicate inline table key 'C'" in msg, msg


def test_missing_sections_are_errors(tmp_path):
    assert "add at least one [[strategies]]" in _error(tmp_path, GOOD.split("[[strategies]]")[0])
    assert "seeds: missing" in _error(tmp_path, GOOD.replace("seeds = [1, 0]", ""))


# ---------------------------------------------------------------------------- protocol files


def _protocols(tmp_path, text):
    from harness.api.protocol_files import read_protocol_files

    path = tmp_path / "protocols.toml"
    path.write_text(text)
    return path, read_protocol_files([path])


def test_protocol_file_inherits_a_base_and_merges_its_mappings(tmp_path):
    _, entries = _protocols(
        tmp_path,
        '[a]\ndescription = "a"\nnetwork = { C = 4, N = 1 }\ntask_options = { subset = 600 }\nepochs = 4\nsnapshot_epochs = [4]\n'
        '[b]\nbase = "a"\ndescription = "b"\ntask_options = { augment = false }\nlr = 0.1\n'
        'sources = { lr = "org/repo, train.py, lr = 0.1", "task_options.augment" = "org/repo, data.py, no flips" }\n',
    )
    a, b = entries["a"].protocol, entries["b"].protocol
    assert (b.epochs, b.lr, b.network) == (4, 0.1, {"C": 4, "N": 1})
    assert b.task_options == {"subset": 600, "augment": False} and a.task_options == {"subset": 600}
    assert entries["b"].base == "a" and entries["b"].sources["lr"].startswith("org/repo")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[a]\nepochs = 4\n", "description missing"),
        ('[a]\ndescription = "a"\nepoch = 4\n', "unknown protocol field 'epoch' .*did you mean 'epochs'"),
        ('[a]\ndescription = "a"\nsubset = 4\n', "subset is a task option now"),
        ('[a]\ndescription = "a"\nbase = "c"\n', r"\[a\].base: unknown protocol 'c'"),
        ('[a]\ndescription = "a"\nbase = "b"\n[b]\ndescription = "b"\nbase = "a"\n', "circular"),
        ('[a]\ndescription = "a"\nepochs = 0\n', r"\[a\]: protocol 'a': epochs must be an integer >= 1, got 0"),
        ('[a]\ndescription = "a"\nsources = { lr = "x" }\n', "'lr' names no field set in this protocol"),
        ('[a]\ndescription = "a"\n[a]\n', "invalid TOML"),
    ],
)
def test_bad_protocol_file_is_one_line_naming_the_file(tmp_path, text, needle):
    from harness.api.errors import WsbenchError

    with pytest.raises(WsbenchError) as e:
        _protocols(tmp_path, text)
    assert re.search(needle, str(e.value)) and str(tmp_path / "protocols.toml") in str(e.value) and "\n" not in str(e.value)


def test_every_shipped_protocol_keeps_its_hash_shape():
    """Data fields moved to task options are hashed where they always were (cells keep their hashes)."""
    from harness.catalog import PROTOCOLS, SPACES

    d = PROTOCOLS.get("nb201-rs").to_dict(SPACES.get("nb201"))
    assert (d["split"], d["train_part"], d["eval_part"], d["subset"], d["augment"]) == (
        "nb201-cifar10-valid",
        "train",
        "valid",
        None,
        True,
    )
    assert "task_options" not in d and "cutout" not in d and d["C"] == 16
    recipe = PROTOCOLS.get("fewshot-oneshot").to_dict(SPACES.get("nb201"))  # an option the old fields lack stays apart
    assert (recipe["split"], recipe["eval_part"], recipe["task_options"]) == ("train-test", "test", {"eval_order": "shuffled"})
    assert PROTOCOLS.get("darts-gpu").to_dict()["cutout"] == 16
    assert PROTOCOLS.get("ptb-cpu").to_dict()["task_options"]["train_tokens"] == 60_000
