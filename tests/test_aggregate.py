"""summary.csv rows: recipe and deviations, no scores for diverged runs, training and curve endpoints."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from ganbench.aggregate import curve_endpoints, run_row, training_endpoints

SPEC = {"run_id": "pytorch-basic_tutorial-prior-random-s1", "study": "t", "impl": "pytorch",
        "recipe": "basic_tutorial", "deviations": {"prior": "random"}, "model": "basic", "prior": "random",
        "d_steps": 1, "g_steps": 2, "g_loss": "nonsaturating", "label_smoothing": 1.0, "freeze_d": True,
        "fresh_noise": False, "optim_preset": "tf_adam_2e-4", "seed": 1, "steps": 1000, "batch_size": 64,
        "image_size": 28, "arch": {"hidden": 128, "hidden_activation": "relu", "output": "sigmoid"}}


def write_log(path, d_loss, probe_train=None, probe_test=None):
    steps = [100 * (i + 1) for i in range(len(d_loss))]
    frame = pd.DataFrame({"step": steps, "d_loss": d_loss, "g_loss": 1.0, "d_real": 0.8, "d_fake": 0.3,
                          "elapsed_s": 1.0})
    if probe_train is not None:
        frame["d_probe_train"] = probe_train
        frame["d_probe_test"] = probe_test
    frame.to_csv(path, index=False)


def test_collapse_fraction_counts_the_second_half_only(tmp_path):
    # 10 log rows at steps 100..1000; second half = steps 600..1000
    write_log(tmp_path / "log.csv", [0.01] * 5 + [0.05, 0.5, 0.02, 0.9, 0.08])
    ends = training_endpoints(tmp_path / "log.csv", 1000)
    assert ends["d_collapse_frac"] == pytest.approx(3 / 5)
    assert ends["final_d_loss"] == pytest.approx(0.08)  # last 10% = the last row
    assert ends["final_d_gap"] == pytest.approx(0.5)
    assert math.isnan(ends["d_probe_gap"])  # not logged


def test_probe_gap_is_train_minus_test_at_the_end(tmp_path):
    write_log(tmp_path / "log.csv", [0.5] * 20, probe_train=[0.6] * 18 + [0.9, 0.8],
              probe_test=[0.6] * 18 + [0.5, 0.6])
    ends = training_endpoints(tmp_path / "log.csv", 2000)
    assert ends["d_probe_gap"] == pytest.approx(((0.9 - 0.5) + (0.8 - 0.6)) / 2)


def test_curve_endpoints_pick_mid_and_end():
    curve = [{"step": s, "fraction": s / 1000, "n": 2000, "fid": f, "classes_covered": c}
             for s, f, c in ((250, 900.0, 2), (500, 500.0, 7), (750, 420.0, 9), (1000, 400.0, 10))]
    ends = curve_endpoints(curve)
    assert (ends["fid_mid"], ends["classes_mid"], ends["fid_end_curve"], ends["curve_n"]) == (500.0, 7, 400.0, 2000)
    assert math.isnan(curve_endpoints([])["fid_mid"])
    assert math.isnan(curve_endpoints(curve[:1])["fid_mid"])  # no point near mid-training


def test_heldout_separation_is_test_probe_minus_fake_at_the_end(tmp_path):
    write_log(tmp_path / "log.csv", [0.5] * 20, probe_train=[0.6] * 18 + [0.95, 0.9], probe_test=[0.6] * 18 + [0.7, 0.5])
    ends = training_endpoints(tmp_path / "log.csv", 2000)
    # the last 10% (2 rows) of D(test probe) - D(G(z)); write_log's D(G(z)) is 0.3
    assert ends["d_heldout_sep"] == pytest.approx(((0.7 - 0.3) + (0.5 - 0.3)) / 2)
    assert math.isnan(training_endpoints(tmp_path / "missing.csv", 2000)["d_heldout_sep"])


def test_late_fid_trend_is_the_least_squares_change_over_the_second_half():
    def curve(fids, fractions=(0.25, 0.5, 0.75, 1.0)):
        return [{"step": int(f * 1000), "fraction": f, "n": 1000, "fid": v} for f, v in zip(fractions, fids)]
    # log FID falling linearly by log(2) over the second half; the 25% point is not used
    ends = curve_endpoints(curve([5000.0, 400.0, 400 / math.sqrt(2), 200.0]))
    assert ends["fid_trend_late"] == pytest.approx(-math.log(2))
    # converged: flat from mid-training on, whatever came before
    assert curve_endpoints(curve([900.0, 300.0, 300.0, 300.0]))["fid_trend_late"] == pytest.approx(0.0, abs=1e-12)
    # a noisy second half: the fit through mid, 75% and end, not end vs mid alone
    y = np.log([300.0, 200.0, 330.0])
    x = np.array([0.5, 0.75, 1.0])
    want = np.polyfit(x, y, 1)[0] * 0.5
    assert curve_endpoints(curve([900.0, 300.0, 200.0, 330.0]))["fid_trend_late"] == pytest.approx(want)
    # no end point, or no point near mid-training: not measured
    assert math.isnan(curve_endpoints(curve([900.0, 300.0, 200.0], (0.25, 0.5, 0.75)))["fid_trend_late"])
    assert math.isnan(curve_endpoints(curve([900.0, 200.0], (0.25, 1.0)))["fid_trend_late"])


def test_diverged_run_row_has_no_scores_and_says_why(tmp_path):
    (tmp_path / "status.json").write_text(json.dumps({"status": "diverged", "step": 313, "reason": "nan"}))
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "diverged", "metrics": {}, "curve": []}))
    write_log(tmp_path / "log.csv", [0.3, float("nan")])
    row = run_row(tmp_path, SPEC, ["prior"])
    assert (row["status"], row["diverged_step"], row["status_reason"]) == ("diverged", 313, "nan")
    assert math.isnan(row["fid"]) and math.isnan(row["recall"])
    assert row["recipe"] == "basic_tutorial" and json.loads(row["deviations"]) == {"prior": "random"}
    assert row["schedule"] == "1:2" and row["hidden_activation"] == "relu" and row["batch_norm"] == ""


def test_unfinished_run_is_failed_with_reason(tmp_path):
    row = run_row(tmp_path, SPEC, ["prior"])
    assert row["status"] == "failed" and "did not finish" in row["status_reason"]


def test_parameter_counts_of_g_and_d():
    from ganbench.aggregate import parameter_counts
    from ganbench.config import load_config
    from ganbench.grid import expand_runs
    from pathlib import Path

    spec = {**SPEC, "z_dim": 100, "channels": 1}
    # G: 100 -> 128 -> 784, D: 784 -> 128 -> 1, each layer with its bias
    assert parameter_counts(spec) == {"params_g": 100 * 128 + 128 + 128 * 784 + 784,
                                      "params_d": 784 * 128 + 128 + 128 + 1}
    assert math.isnan(parameter_counts({"model": "basic"})["params_g"])
    # The DCGAN post's "more parameters": its DCGAN against its BasicGAN, as the quick study sizes them
    quick = load_config(Path(__file__).resolve().parents[1] / "config" / "quick.yaml")
    runs = expand_runs(quick, ["tensorflow"])
    dcgan, basic = (parameter_counts(runs[r].spec) for r in ("tensorflow-dcgan_blog-s0", "tensorflow-dcgan_blog-basic-s0"))
    assert dcgan["params_g"] > basic["params_g"] and dcgan["params_d"] > 0


def test_loss_dominance_is_the_late_mean_log_ratio_of_g_to_d_loss(tmp_path):
    # 10 rows at steps 100..1000: the second half (600..1000) has D loss 0.1, 0.2, 0.4, 0.0, 0.5 and G
    # loss 1 (write_log); the row whose D loss is 0 (no finite log) is left out
    write_log(tmp_path / "log.csv", [9.0] * 5 + [0.1, 0.2, 0.4, 0.0, 0.5])
    ends = training_endpoints(tmp_path / "log.csv", 1000)
    assert ends["loss_dominance"] == pytest.approx(np.mean(np.log([10.0, 5.0, 2.5, 2.0])))
    assert math.isnan(training_endpoints(tmp_path / "missing.csv", 1000)["loss_dominance"])


def test_gradient_flow_endpoints_average_the_second_half(tmp_path):
    write_log(tmp_path / "log.csv", [0.5] * 10)
    log = pd.read_csv(tmp_path / "log.csv")
    log["g_grad_norm"] = [9.0] * 5 + [1.0, 2.0, 4.0, float("nan"), 0.5]
    log["g_dead_frac"] = [0.9] * 5 + [0.1, 0.2, 0.3, 0.2, float("nan")]
    log.to_csv(tmp_path / "log.csv", index=False)
    ends = training_endpoints(tmp_path / "log.csv", 1000)
    assert ends["g_grad_late"] == pytest.approx(np.mean(np.log([1.0, 2.0, 4.0, 0.5])))
    assert ends["g_dead_late"] == pytest.approx(0.2)
    write_log(tmp_path / "old.csv", [0.5] * 10)  # a log from before the gradient-flow columns
    assert math.isnan(training_endpoints(tmp_path / "old.csv", 1000)["g_grad_late"])
