"""ProxylessNAS: encoding, closed-form costs against the seed paper's columns, networks, ground truth,
ImageNet-format data (generated folders and downsampled npz), the imagenet task, cells end to end."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs_data

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.catalog import PROTOCOLS, SPACES, TASKS, load_ground_truth
from harness.data.generated import write_downsampled, write_image_folder
from harness.data.imagenet import (
    StreamedBatches,
    centre_box,
    class_balanced,
    decode_fixed,
    load_crop,
    random_resized_box,
    scan_folder,
)
from harness.data.imagenet_downsampled import load_part
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell
from harness.engine.schedule import cosine_lr
from spaces.proxyless import encoding
from spaces.proxyless.cost import make_divisible, widths
from spaces.proxyless.network import ProxylessNetwork

SPACE = SPACES.get("proxyless")
TASK = TASKS.get("imagenet")
SEEDPAPER_ARCH = (
    '{"stage0_cell0":4,"stage0_cell1":0,"stage0_cell2":6,"stage0_cell3":3,"stage1_cell0":3,"stage1_cell1":6,'
    '"stage1_cell2":4,"stage1_cell3":2,"stage2_cell0":4,"stage2_cell1":6,"stage2_cell2":1,"stage2_cell3":4,'
    '"stage3_cell0":5,"stage3_cell1":6,"stage3_cell2":5,"stage3_cell3":6,"stage4_cell0":1,"stage4_cell1":5,'
    '"stage4_cell2":5,"stage4_cell3":0,"stage5_cell0":3}'
)


def _seedpaper_rows():
    from harness.settings import data_root

    return pd.read_csv(data_root(required=True) / "seedpaper" / "proxylessnas.csv")


# ------------------------------------------------------------------------------------ encoding


def test_space_size_is_six_options_at_stage_starts_and_seven_elsewhere():
    assert SPACE.num_archs == 6**6 * 7**15 == 221_502_229_807_900_608
    assert SPACE.grid_shape() == tuple(6 if c == 0 else 7 for _, c in encoding.LAYERS)
    assert len(encoding.LAYERS) == 21


def test_every_form_parses_to_the_same_architecture():
    a = SPACE.parse(SEEDPAPER_ARCH)
    assert SPACE.arch_id(a) == "4063-3642-4614-5656-1550-3"
    for form in (json.loads(SEEDPAPER_ARCH), SPACE.format(a), SPACE.arch_id(a), list(a), np.array(a)):
        assert SPACE.parse(form) == a


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("6063-3642-4614-5656-1550-3", "zero needs an identity shortcut"),  # zero at stage 0's first layer
        ("4063-3642-4614-5656-1550-6", "zero needs an identity shortcut"),
        ("4063-3642-4614-5656-1550", "expected five groups"),
        ("4063-3642-4614-5656-1550-7", "expected five groups"),
        ({"stage0_cell0": 1}, "missing keys"),
        ('{"stage0_cell0": 1', "is not JSON"),
        ((0,) * 20, "has 21 layers"),
    ],
)
def test_bad_architectures_are_one_line_errors(bad, needle):
    with pytest.raises(WsbenchError, match=needle) as info:
        SPACE.parse(bad)
    assert "\n" not in str(info.value)


def test_sampling_is_uniform_per_layer_and_never_puts_zero_at_a_stage_start():
    rng = np.random.default_rng(0)
    archs = np.array([SPACE.sample(rng) for _ in range(3000)])
    firsts = [i for i, (_, c) in enumerate(encoding.LAYERS) if c == 0]
    assert not (archs[:, firsts] == encoding.ZERO).any()
    others = np.delete(archs, firsts, axis=1)
    counts = np.bincount(others.ravel(), minlength=7) / others.size
    assert np.allclose(counts, 1 / 7, atol=0.01)


# ---------------------------------------------------------------------------------------- costs


def test_widths_at_one_point_three_five_are_the_ground_truth_networks():
    w = widths(135)
    assert (w.stem, w.first, w.stages, w.feature_mix) == (40, 24, (32, 56, 112, 128, 256, 432), 1728)
    assert widths(100).stages == (24, 40, 80, 96, 192, 320) and widths(100).feature_mix == 1280
    assert make_divisible(43.2) == 40 and make_divisible(9.6) == 16  # never below 90 % of the scaled width


@needs_data()
def test_params_and_flops_match_the_seed_paper_on_all_36_rows():
    rows = _seedpaper_rows()
    assert len(rows) == 36
    params = flops = 0
    for _, r in rows.iterrows():
        cost = SPACE.cost(r["architecture"])
        params += cost.params == r["params"]
        # The paper's counter stored FLOPs as float32: the exact count, rounded to float32, is its column.
        flops += int(np.float32(cost.flops)) == r["flops"]
    assert (params, flops) == (36, 36)


@needs_data()
def test_stand_alone_networks_have_the_closed_form_parameter_count():
    rows = _seedpaper_rows()
    for text in rows["architecture"].iloc[:6]:
        net = SPACE.build_network(text)
        assert sum(p.numel() for p in net.parameters()) == SPACE.cost(text).params


def test_flops_scale_with_resolution_as_the_feature_maps_do():
    a = SPACE.parse(SEEDPAPER_ARCH)
    c224, c448 = SPACE.cost(a), SPACE.cost(a, resolution=448)  # 448 / 32 = 14: every map exactly twice as wide
    head = widths(135).feature_mix * 1000  # the classifier's MACs do not depend on the resolution
    assert (c448.flops - head) == 4 * (c224.flops - head)
    assert c224.params == c448.params


# ------------------------------------------------------------------------------------- networks


def test_a_supernet_path_is_exactly_its_stand_alone_network():
    supernet = SPACE.build_supernet({"width_pct": 25}, TASK.configure(PROTOCOLS.get("proxyless-folder")).spec(), seed=3)
    a = SPACE.parse(SEEDPAPER_ARCH)
    net = ProxylessNetwork(a, width_pct=25, num_classes=3)
    own = {}
    for name, value in supernet.state_dict().items():
        if name.startswith("candidates."):
            layer, op, rest = name.split(".", 3)[1:]
            if int(op) == a[int(layer)]:
                own[f"blocks.{layer}.{rest}"] = value
        else:
            own[name] = value
    net.load_state_dict(own)  # strict: every weight of the stand-alone network has its supernet copy
    x = torch.randn(4, 3, 40, 40)
    with torch.no_grad():  # train mode: BN on batch statistics, so the output depends on every block
        out = net(x)
        assert torch.allclose(supernet(x, a), out, atol=1e-5) and out.std(dim=0).min() > 0


def test_zero_layers_pass_their_input_through():
    supernet = SPACE.build_supernet(SPACE.smoke_network, TASK.spec(), seed=0)  # train mode: batch statistics
    a = list(SPACE.parse(SEEDPAPER_ARCH))
    b = list(a)
    b[1] = encoding.ZERO  # stage 0, layer 1 skipped
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(supernet(x, tuple(a)), supernet(x, tuple(b)))
        for layer in supernet.candidates[1]:
            for p in layer.parameters():
                p.zero_()  # its candidates' BN shifts vanish too: the block adds nothing
        assert torch.allclose(supernet(x, tuple(a)), supernet(x, tuple(b)), atol=1e-5)


def test_synflow_tells_mobile_blocks_apart():
    from harness.baselines import score_baseline

    archs = [SEEDPAPER_ARCH, "0666-0666-0666-0666-0666-0"]
    scores = score_baseline("synflow", SPACE, archs, seed=0, width_pct=25)
    assert np.isfinite(scores).all() and scores[0] > scores[1]  # ReLU6 saturation would make them equal


# ---------------------------------------------------------------------------------- ground truth


@needs_data()
def test_ground_truth_is_top1_and_top5_in_percent_with_one_run():
    top1 = load_ground_truth("proxyless", "seedpaper", "imagenet", "val", "top1", "as-published")
    top5 = load_ground_truth("proxyless", "seedpaper", "imagenet", "val", "top5", "as-published")
    assert len(top1) == len(top5) == 36 and top1.arch_ids == top5.arch_ids
    assert 70 < top1.values.min() and top1.values.max() < 80 and (top5.values > top1.values).all()
    assert top1.lookup(["4063-3642-4614-5656-1550-3"])[0] == pytest.approx(75.8)
    assert [SPACE.arch_id(a) for a in SPACE.ground_truth_archs()] == top1.arch_ids
    with pytest.raises(WsbenchError, match="seed reduction"):
        load_ground_truth("proxyless", "seedpaper", "imagenet", "val", "top1", "seed:43")


@needs_data()
def test_damaged_or_missing_ground_truth_files_are_one_line_errors(tmp_path, monkeypatch):
    from harness.settings import data_root

    text = (data_root(required=True) / "seedpaper" / "proxylessnas.csv").read_text()
    (tmp_path / "seedpaper").mkdir()
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(DataMissingError, match="proxylessnas.csv"):
        load_ground_truth("proxyless", "seedpaper", "imagenet", "val", "top1", "as-published")
    (tmp_path / "seedpaper" / "proxylessnas.csv").write_text(text.replace('"stage0_cell0"":4', '"stage0_cell0"":6', 1))
    with pytest.raises(CorruptDataError, match="not the seed paper's ProxylessNAS table") as info:
        load_ground_truth("proxyless", "seedpaper", "imagenet", "val", "top1", "as-published")
    assert "\n" not in str(info.value)


@needs_data()
def test_gt_report_says_there_is_no_second_seed(capsys):
    from harness.cli import main

    assert main(["gt", "proxyless"]) == 0
    out = capsys.readouterr().out
    assert "36" in out and "imagenet" in out


# -------------------------------------------------------------------------- ImageNet-format data


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("imagenet"), classes=3, train_per_class=8, val_per_class=4, size=(120, 90))


def test_folder_index_is_sorted_and_labelled_by_class_folder(folder):
    idx = scan_folder(folder, "train")
    assert idx.classes == ("n00000000", "n00000001", "n00000002") and len(idx) == 24
    assert list(np.bincount(idx.labels)) == [8, 8, 8] and list(idx.files) == sorted(idx.files)
    val = scan_folder(folder, "val", idx.classes)
    assert len(val) == 12 and list(np.bincount(val.labels)) == [4, 4, 4]


def test_streamed_batches_are_the_same_for_any_worker_count_and_after_a_resume(folder):
    idx = scan_folder(folder, "train")

    def epochs(workers, n=2, state=None):
        g = torch.Generator().manual_seed(7)
        if state is not None:
            g.set_state(state)
        s = StreamedBatches(idx, size=48, batch_size=5, generator=g, device="cpu", workers=workers)
        out = [[(x.clone(), y.clone()) for x, y in s] for _ in range(n)]
        return out, g.get_state()

    serial, _ = epochs(0)
    parallel, _ = epochs(2)
    assert len(serial[0]) == 4 and serial[0][0][0].shape == (5, 3, 48, 48)  # drop_last: 24 // 5 batches
    for a, b in zip(serial[0] + serial[1], parallel[0] + parallel[1]):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(serial[0][0][0], serial[1][0][0])  # a fresh order and augmentation per epoch
    first, state = epochs(0, n=1)
    resumed, _ = epochs(0, n=1, state=state)
    for a, b in zip(resumed[0], serial[1]):
        assert torch.equal(a[0], b[0])


def test_crops_follow_the_inception_and_centre_crop_rules(folder):
    rng = np.random.default_rng(0)
    for _ in range(200):
        left, top, w, h = random_resized_box(500, 375, rng)
        assert 0 <= left and left + w <= 500 and 0 <= top and top + h <= 375
        assert 0.08 * 500 * 375 * 0.95 <= w * h <= 500 * 375 and 3 / 4 - 0.02 <= w / h <= 4 / 3 + 0.02
    assert centre_box(500, 400, 224) == pytest.approx((250 - 175, 200 - 175, 350, 350))  # shorter side 400 -> 256
    path = scan_folder(folder, "val").path(0)
    a, b = load_crop(path, 64, None), load_crop(path, 64, None)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(load_crop(path, 64, 1), load_crop(path, 64, 2))
    assert decode_fixed(scan_folder(folder, "val"), 32, workers=2, batch_size=5).shape == (12, 32, 32, 3)


def test_class_balanced_subsets_spread_over_classes():
    labels = np.repeat(np.arange(4), [10, 3, 10, 10])
    pick = class_balanced(labels, 9, np.random.default_rng(0), 4)
    assert list(np.bincount(labels[pick], minlength=4)) == [3, 2, 2, 2]  # class 0 gets the extra one
    assert list(pick) == sorted(pick)


def test_bad_folders_and_images_are_one_line_errors(folder, tmp_path):
    with pytest.raises(DataMissingError, match="not found"):
        scan_folder(tmp_path / "nowhere", "train")
    (tmp_path / "loose" / "val").mkdir(parents=True)
    (tmp_path / "loose" / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"x")
    with pytest.raises(DataMissingError, match="lie loose"):
        scan_folder(tmp_path / "loose", "val")
    with pytest.raises(DataMissingError, match="lacks class folder"):
        scan_folder(folder, "val", ("n00000000", "n99999999"))
    broken = tmp_path / "broken.JPEG"
    broken.write_bytes((folder / "val" / "n00000000").iterdir().__next__().read_bytes()[:200])
    with pytest.raises(CorruptDataError, match="not a readable image") as info:
        load_crop(broken, 32, 0)
    assert "\n" not in str(info.value)


def test_downsampled_batches_load_as_nhwc_with_zero_based_labels(tmp_path):
    root = write_downsampled(tmp_path / "imagenet32", side=32, classes=4, train_per_class=6, val_per_class=2)
    x, y = load_part(root, 32, "train", num_classes=4)
    assert x.shape == (24, 32, 32, 3) and list(np.bincount(y)) == [6] * 4
    xv, yv = load_part(root, 32, "val", num_classes=3)
    assert xv.shape == (6, 32, 32, 3) and yv.max() == 2
    with np.load(root / "val_data.npz") as f:  # planes R, G, B of the first image = its HWC pixels
        assert np.array_equal(f["data"][0].reshape(3, 32, 32).transpose(1, 2, 0), xv[0])
    with pytest.raises(CorruptDataError, match="not 64x64"):
        load_part(root, 64, "train", num_classes=4)
    with pytest.raises(CorruptDataError, match="only 4 of the 1000 classes"):
        load_part(root, 32, "train")
    (root / "val_data.npz").write_bytes(b"PK\x03\x04broken")
    with pytest.raises(CorruptDataError, match="download it again"):
        load_part(root, 32, "val", num_classes=4)
    shutil.rmtree(root)
    with pytest.raises(DataMissingError, match="Downsampled ImageNet"):
        load_part(root, 32, "train")


# ------------------------------------------------------------------------------------------ task


def _protocol(**changes):
    return PROTOCOLS.get("proxyless-folder").replace(**changes)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"colour": 1}, "unknown task option"),
        ({"data": "lmdb"}, "data must be one of folder, downsampled"),
        ({"data": "downsampled", "image_size": 48}, "must be 32 or 64"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"workers": -1}, "workers must be an integer"),
    ],
)
def test_bad_task_options_are_one_line_errors(options, needle):
    with pytest.raises(WsbenchError, match=needle):
        TASK.check_protocol(_protocol(task_options={**PROTOCOLS.get("proxyless-folder").task_options, **options}))


def test_label_smoothing_changes_the_training_loss_only():
    smooth = TASK.configure(_protocol())
    plain = TASK.configure(_protocol(task_options={"classes": 3}))
    logits, y = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([0])
    assert smooth.label_smoothing == 0.1 and float(smooth.loss(logits, y)) > float(plain.loss(logits, y))


def test_warm_up_ramps_linearly_then_the_cosine_runs_over_the_rest():
    p = PROTOCOLS.get("proxyless-gpu")  # 5 warm-up epochs of 120
    f = cosine_lr(p, 1200)
    assert [f(k) for k in range(3)] == pytest.approx([1 / 50, 2 / 50, 3 / 50])
    assert f(49) == pytest.approx(1.0) and f(50) == pytest.approx(1.0)
    assert f(50 + 575) == pytest.approx(0.5, abs=0.01) and f(1199) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(WsbenchError, match="warmup_epochs"):
        p.replace(warmup_epochs=120)


# --------------------------------------------------------------------------------- end to end


@needs_data()
def test_cell_trains_and_scores_on_a_generated_imagenet_folder(folder, tmp_path):
    p = _protocol(
        task_options={**PROTOCOLS.get("proxyless-folder").task_options, "root": str(folder)},
        archset="ground-truth-sample",
        archset_n=6,
    )
    result = run_cell(CellSpec("proxyless", "spos", p, 0), root=tmp_path, log=lambda *_: None)
    out = next((tmp_path / "runs" / "proxyless" / "spos").glob("*/*/"))
    scores = pd.read_csv(out / "scores" / "epoch_002.csv")
    assert list(scores.columns) == ["epoch", "arch", "top1", "top5", "loss"] and len(scores) == 6
    assert ((scores["top1"] <= scores["top5"]) & (scores["top5"] == 100.0)).all()  # 3 classes: top-5 is everything
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["ground_truth"]) == {
        "proxyless/seedpaper:imagenet/val/top1@as-published",
        "proxyless/seedpaper:imagenet/val/top5@as-published",
    }
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["n_train"] == 24 and config["data"]["n_eval"] == 12 and config["data"]["n_calib"] == 12
    assert result["cell_hash"] == config["cell_hash"]


@needs_data()
def test_downsampled_cell_resumes_to_identical_numbers(tmp_path):
    root = write_downsampled(tmp_path / "imagenet32", side=32, classes=4, train_per_class=16, val_per_class=4)
    p = PROTOCOLS.get("proxyless-folder").replace(
        task_options={"data": "downsampled", "root": str(root), "classes": 4}, batch_size=16, epochs=3, snapshot_epochs=(3,),
        calib_batches=1, calib_batch_size=16, eval_batch_size=16, archset="ground-truth-sample", archset_n=4,
    )  # fmt: skip
    spec = CellSpec("proxyless", "spos", p, 1)
    whole = run_cell(spec, root=tmp_path / "a", log=lambda *_: None)

    class Stop(Exception):
        pass

    def stop_after_two(line):
        if "epoch 2/3" in line:
            raise Stop

    with pytest.raises(Stop):
        run_cell(spec, root=tmp_path / "b", log=stop_after_two)
    resumed = run_cell(spec, root=tmp_path / "b", log=lambda *_: None)
    a = pd.read_csv(next((tmp_path / "a").glob("runs/*/*/*/*/scores/epoch_003.csv")))
    b = pd.read_csv(next((tmp_path / "b").glob("runs/*/*/*/*/scores/epoch_003.csv")))
    pd.testing.assert_frame_equal(a, b)
    assert whole["cell_hash"] == resumed["cell_hash"]


@needs_data()
def test_cifar_cell_without_ground_truth_reports_stability_only(tmp_path):
    from harness.analysis.report import verdicts
    from harness.analysis.stability import analyse

    p = PROTOCOLS.get("proxyless-smoke")
    for seed in (0, 1):
        run_cell(CellSpec("proxyless", "spos", p, seed), root=tmp_path, log=lambda *_: None)
    config = json.loads(next(tmp_path.glob("runs/*/*/*/*/config.json")).read_text())
    assert config["ground_truths"] == [] and "measured on imagenet" in config["ground_truths_skipped"][0]
    a = analyse(tmp_path, baselines=("flops",))
    row = a.table[a.table["kind"] == "supernet"].iloc[0]
    assert row["ground_truth"] == "none" and math.isnan(row["tau_mean"])
    assert -1 <= row["seed_pairwise_tau"] <= 1 and -1 <= row["snapshot_pairwise_tau"] <= 1
    assert any("no ground truth for these cells" in n and "measured on imagenet" in n for n in a.notes)
    flops = a.table[a.table["kind"] == "baseline"]  # training-free: still against the space's own ground truth
    assert len(flops) == 2 and flops["ground_truth"].str.contains("imagenet").all()
    assert any("stability only" in v for v in verdicts(a.table))


# -------------------------------------------------------------------- the seed paper's recipe


def _digest(net: torch.nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def test_weight_keys_default_to_what_was_always_built():
    # Digest of ProxylessSupernet(10, 10, 0.0, seed=0) before the keys bn_eps and init existed.
    spec = TASK.configure(_protocol(task_options={"classes": 10})).spec()
    assert _digest(SPACE.build_supernet({"width_pct": 10}, spec, 0)) == "14e69399009293ff"
    given = {"width_pct": 10, "bn_eps": 1e-5, "init": "torch", "dropout_pct": 0}
    assert SPACE.network_config(given) == {"width_pct": 10, "resolution": 224}
    assert SPACE.network_config({"bn_eps": 0.001, "init": "he_fout"}) == {
        "width_pct": 135, "resolution": 224, "bn_eps": 0.001, "init": "he_fout"
    }  # fmt: skip
    for bad, needle in (({"bn_eps": 0}, "bn_eps: must be a positive number"), ({"init": "xavier"}, "init: must be one of")):
        with pytest.raises(WsbenchError, match=needle):
            SPACE.network_config(bad)


@pytest.mark.parametrize("init", ["he_fout", "he_fin"])
def test_he_init_is_the_seed_papers(init):
    # space/proxyless/network.py reset_parameters: std sqrt(2 / (k * k * out or in channels)), groups ignored.
    net = SPACE.build_supernet({"width_pct": 50, "init": init, "bn_eps": 0.001}, TASK.spec(), seed=1)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d) and m.weight.numel() >= 4000:
            k = m.kernel_size[0] * m.kernel_size[1]
            std = math.sqrt(2.0 / (k * (m.out_channels if init == "he_fout" else m.in_channels)))
            assert abs(float(m.weight.detach().std()) / std - 1) < 0.1
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.eps == 0.001 and m.momentum == 0.1 and float(m.weight.detach().min()) == 1.0
        if isinstance(m, torch.nn.Linear):
            assert float(m.bias.detach().abs().max()) == 0.0
    net2 = SPACE.build_network(SEEDPAPER_ARCH, width_pct=50, num_classes=10, seed=1, init=init, bn_eps=0.001)
    assert all(m.eps == 0.001 for m in net2.modules() if isinstance(m, torch.nn.BatchNorm2d))


def _engine_fields(p):
    data = {"name", "description", "notes", "references", "task", "task_options", "network"}
    return {f: getattr(p, f) for f in p.__dataclass_fields__ if f not in data}


def test_the_cifar_stand_in_is_the_recipe_with_other_data():
    recipe, cifar = PROTOCOLS.get("seedpaper-proxyless"), PROTOCOLS.get("seedpaper-proxyless-cifar")
    assert _engine_fields(recipe) == _engine_fields(cifar)
    assert {k: v for k, v in recipe.network.items() if k != "resolution"} == {
        k: v for k, v in cifar.network.items() if k != "resolution"
    }
    assert recipe.network_for(SPACE) == {"width_pct": 135, "resolution": 224, "bn_eps": 0.001, "init": "he_fout"}
    assert (recipe.lr, recipe.batch_size, recipe.epochs, recipe.warmup_epochs, recipe.weight_decay) == (0.025, 128, 300, 5, 5e-5)
    assert (recipe.nesterov, recipe.grad_clip, recipe.zero_grad, recipe.calib_batches, recipe.calib_batch_size) == (
        False, None, "zeros", 100, 200
    )  # fmt: skip
    assert TASK.configure(recipe).label_smoothing == 0.1 and recipe.eval_images is None


def _seed_lr(epoch: float, warmup: int = 5, epochs: int = 300, world_size: int = 1) -> float:
    """Transcription of the seed's adjust_learning_rate (trainers/utils.py), as a factor of initial_lr."""
    if epoch < warmup:
        adj = 1.0 / world_size * (epoch * (world_size - 1) / warmup + 1)
    else:
        adj = 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup)))
    return world_size * adj


def test_recipe_schedule_is_the_seeds_after_the_warm_up():
    p = PROTOCOLS.get("seedpaper-proxyless")
    steps = 10  # per epoch
    f = cosine_lr(p, p.epochs * steps)
    after = range(5 * steps, p.epochs * steps)
    assert max(abs(f(s) - _seed_lr(s / steps)) for s in after) < 1e-9
    # During the warm-up the seed (one GPU) stays at the peak; wsbench ramps up to it (a difference it names).
    assert _seed_lr(0.0) == 1.0 and f(0) == pytest.approx(1 / 50)
    assert "warm-up" in p.notes and "label smoothing" in p.notes and "colour jitter" in p.notes
