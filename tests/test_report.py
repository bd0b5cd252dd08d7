"""The HTML report: rendered from synthetic summaries with tiny run folders.

The browser test opens the report in Debian's headless Chromium through Selenium
with the system chromedriver (no browser download, no network). It is skipped
when chromium, chromedriver or selenium is missing, except when the environment
variable CI is set: then it fails, because CI installs them
(apt: chromium chromium-driver; pip: selenium).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest

from ganbench import figures, progress_figure, report
from ganbench.observations import OBSERVATIONS
import browser
from report_fixtures import CONFIG, make_summary, write_run_folder, write_speed_csv

XSS = "<script>alert(1)</script>"
KEY_FIGURES = ("observations", "fid_by_condition", "frameworks", "training_curves", "loss_curves", "timing")


class Page(HTMLParser):
    """Collects img srcs, links, observation rows and script tags."""

    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.obs_rows, self.scripts, self.stylesheets = [], [], [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "tr" and a.get("data-observation"):
            self.obs_rows.append(a["data-observation"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.stylesheets.append(a.get("href", ""))


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def _relative_summary(tmp_path: Path, df: pd.DataFrame) -> pd.DataFrame:
    """run_dir relative to tmp_path (the 'repo root' the report runs in)."""
    df = df.copy()
    df["run_dir"] = [str(Path(p).relative_to(tmp_path)) for p in df["run_dir"]]
    return df


ADAM = '{"optim": "adam_default"}'


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A small but complete study: 2 impls x 3 seeds of every observation arm, a strong
    g_loss effect, the notebook recipe untrained (FID ~950, 1 class), one run id with a script
    tag, a diverged run, a failed run, and the benchmark's speed.csv."""
    root = tmp_path_factory.mktemp("study")
    df = make_summary(seeds=(0, 1, 2), effects={"g_loss": {"fid": math.log(1.5)}}, root=root, rng_seed=3,
                      arm_sd=0.1, untrained=("mnist_notebook",))
    df = _relative_summary(root, df)
    df.loc[0, "run_id"] = XSS  # its grid is shown and it appears in the runs table
    div = df.index[(df["deviations"] == ADAM) & (df["seed"] == 1)][0]
    df.loc[div, ["status", "fid", "status_reason", "diverged_step"]] = ["diverged", np.nan, "loss is NaN", 40]
    failed = df.index[(df["deviations"] == '{"prior": "random"}') & (df["seed"] == 2)][0]
    df.loc[failed, ["status", "status_reason"]] = ["failed", "no status.json: the run did not finish"]
    shutil.rmtree(root / df.loc[failed, "run_dir"])  # a failed run may leave nothing behind
    (root / "results").mkdir()
    df.to_csv(root / "results" / "summary.csv", index=False)
    (root / "results" / "config.json").write_text(json.dumps({**CONFIG, "curve_samples": 300, "eval_samples": 2000}))
    write_speed_csv(root / "results" / "speed.csv")
    cwd = os.getcwd()
    os.chdir(root)  # run_dir paths are relative to the working directory (the repo root)
    try:
        assert report.main(["--summary", "results/summary.csv", "--config", "results/config.json",
                            "--speed", "results/speed.csv", "--out", "reports/synthetic/index.html"]) == 0
    finally:
        os.chdir(cwd)
    out = root / "reports" / "synthetic" / "index.html"
    return out, out.read_text(encoding="utf-8"), df


def test_every_observation_has_a_row(rendered):
    _, html, _ = rendered
    page = parse(html)
    assert sorted(page.obs_rows) == sorted(o.id for o in OBSERVATIONS)
    for o in OBSERVATIONS:
        assert f'id="obs-{o.id}"' in html  # detail section the row links to


def test_verdict_table_comes_first_and_environment_last(rendered):
    _, html, df = rendered
    line = html.index('id="summary-line"')
    table = html.index('id="observations-table"')
    assert line < table < html.index('id="rules-table"') < html.index('id="excluded-table"') < html.index(
        'id="environment"')
    assert f"{len(df)} runs (" in html and "n in every test = seeds" in html
    # per-model (recipe) verdicts and n = seeds
    assert "basic_tutorial (basic)" in html and "dcgan_carpedm20 (dcgan)" in html
    assert "paired t-test over seeds, n = 3" in html


def test_run_ids_are_escaped(rendered):
    _, html, _ = rendered
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert parse(html).scripts == 0  # the report itself has no scripts at all


def test_all_referenced_images_exist_and_are_local(rendered):
    out, html, df = rendered
    page = parse(html)
    assert page.imgs, "no images in the report"
    for src in page.imgs + [h for h in page.links if not h.startswith("#")]:
        parsed = urlparse(src)
        assert parsed.scheme == "" and not src.startswith("/"), f"non-local reference {src!r}"
        assert (out.parent / unquote(parsed.path)).is_file(), f"missing file {src!r}"
    assert not page.stylesheets  # CSS is inline
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    # one sample grid per (model, condition, impl), copied into the report folder
    grids = [s for s in page.imgs if s.startswith("figures/grids/")]
    assert len(grids) == df.groupby(["model", "recipe", "deviations", "impl"]).ngroups


def test_key_figures_at_fixed_names(rendered):
    out, html, _ = rendered
    for name in KEY_FIGURES:
        path = out.parent / "figures" / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 1000, name
        assert f"figures/{name}.png" in html
    assert (out.parent / "observations.csv").is_file()
    assert (out.parent / "excluded_runs.csv").is_file()


def test_rules_guard_and_excluded_runs_are_printed(rendered):
    _, html, df = rendered
    assert "loss is NaN" in html and "no status.json: the run did not finish" in html
    for code in ("N", "A", "G", "P", "S", "R", "W", "O", "X", "I", "E", "D"):
        assert f"<td>{code}</td>" in html, code
    assert "Holm" in html and "TOST" in html and "never imputed" in html
    assert "did not train" in html and "450" in html  # the guard rule
    assert "mnist-net:1a2b3c4d" in html
    excluded = html[html.index('id="excluded-table"'):]
    failed = df.loc[df["status"] == "failed", "run_id"].iloc[0]
    diverged = df.loc[df["status"] == "diverged", "run_id"].iloc[0]
    assert failed in excluded and diverged in excluded
    assert "diverged: no quality score" in excluded


def test_per_claim_families_and_the_decision_of_each_claim_are_printed(rendered):
    """The family rule as the code applies it (per claim, study-wide Holm beside), the design's
    boundary table, rule P, and per claim the look and n at which it was decided."""
    out, html, _ = rendered
    rules = html[html.index('id="rules"'):]
    assert "Each claim is its own family" in rules and "study-wide Holm-adjusted p" in rules
    assert 'id="boundary-table"' in rules and "Fixed-n design: one look at 3 seeds per claim" in rules
    assert "<td>P</td>" in rules and "the premise did not occur" in rules
    table = html[html.index('id="observations-table"'):html.index('id="rules"')]
    assert "p (Holm, claim)" in table and "p (Holm, study-wide)" in table
    g_loss = table[table.index('data-observation="g_loss"'):]
    assert "decided at look 1 of 1, n = 3" in g_loss[:g_loss.index("</tr>")]
    csv = pd.read_csv(out.parent / "observations.csv")
    assert {"look", "look_n", "p_holm_study", "crit_p", "min_p"} <= set(csv.columns)
    assert (csv.loc[csv["id"] == "g_loss", "look_n"] == 3).all()


def test_verdicts_in_observations_csv(rendered):
    out, _, _ = rendered
    table = pd.read_csv(out.parent / "observations.csv")
    first = table.drop_duplicates("id").set_index("id")
    assert first.loc["g_loss", "verdict"] == "reproduced"
    assert first.loc["g_loss", "n_seeds"] == 3
    assert set(table["verdict"]) <= {"reproduced", "weaker than claimed", "not reproduced", "inconclusive"}
    assert set(table["id"]) == {o.id for o in OBSERVATIONS}


def test_autoescape_is_on():
    env = report.make_env()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.autoescape(report.TEMPLATE) is True  # the report template itself is autoescaped
    html = env.from_string("{% autoescape true %}{{ x }}{% endautoescape %}").render(x=XSS)
    assert XSS not in html


@pytest.mark.parametrize("variant", ["single_run", "one_impl", "header_only", "old_summary"])
def test_partial_studies_render(tmp_path, monkeypatch, variant):
    monkeypatch.chdir(tmp_path)
    if variant == "single_run":
        df = make_summary(seeds=(0,), impls=("pytorch",), root=tmp_path).iloc[:1]
    elif variant == "one_impl":  # two recipes: the others' claims render as not run
        df = make_summary(seeds=(0, 1, 2), impls=("tensorflow",), root=tmp_path)
        df = df[df["recipe"].isin(["vanilla_mnist", "dcgan_carpedm20"])]
    elif variant == "old_summary":  # before recipes, curve and probe columns existed
        df = make_summary(seeds=(0, 1, 2), root=tmp_path, drop_columns=(
            "recipe", "deviations", "fid_mid", "fid_end_curve", "d_probe_gap", "d_collapse_frac", "recall", "coverage"))
    else:
        df = make_summary(seeds=(0,), impls=("pytorch",)).iloc[0:0]
    df = _relative_summary(tmp_path, df) if len(df) else df
    if variant == "one_impl":  # a condition without grids and an unreadable log
        for run_dir in df.loc[df["deviations"] == '{"g_loss": "minimax"}', "run_dir"]:
            (tmp_path / run_dir / "grid.png").unlink()
        (tmp_path / df["run_dir"].iloc[0] / "log.csv").write_text("")
    df.to_csv("summary.csv", index=False)
    # the config file may be missing: the report says so and still renders
    out = report.render(Path("summary.csv"), Path("missing.json"), Path("out/index.html"))
    html = out.read_text()
    page = parse(html)
    assert sorted(page.obs_rows) == sorted(o.id for o in OBSERVATIONS)
    for src in page.imgs:
        assert (out.parent / src).is_file(), src
    for name in KEY_FIGURES:
        assert (out.parent / "figures" / f"{name}.png").is_file()
    assert "config missing.json not found" in html
    assert "arm missing" in html
    if variant == "one_impl":
        assert "no grid.png" in html
    if variant == "old_summary":
        assert "predates source recipes" in html


# ---------------------------------------------------------------------------
# Learning curves, the guard's evidence, the speed table, observations not run
# ---------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


PLACEHOLDER_WIDTH = 800  # a placeholder PNG is ~660 px wide; the real figures are wider


def _section(html: str, obs_id: str) -> str:
    start = html.index(f'<section id="obs-{obs_id}">')
    return html[start:html.index("</section>", start)]


def _verdict_row(html: str, obs_id: str) -> str:
    start = html.index(f'id="row-{obs_id}"')
    return html[start:html.index("</tr>", start)]


def test_curve_points_images_seen_and_twins_averaged_within_a_seed(tmp_path):
    write_run_folder(tmp_path / "a", seed=0)  # curve points at steps 25, 50, 75, 100
    write_run_folder(tmp_path / "b", seed=1)
    rows = pd.DataFrame([
        {"run_id": "a", "run_dir": str(tmp_path / "a"), "status": "ok", "impl": "pytorch", "model": "basic",
         "seed": 0, "batch_size": 64, "d_steps": 2},
        {"run_id": "b", "run_dir": str(tmp_path / "b"), "status": "diverged", "impl": "pytorch", "model": "basic",
         "seed": 1, "batch_size": 64, "d_steps": 2}])
    curves = figures.collect_curves(rows, lambda d: Path(d) if d else None)
    assert list(curves["images"]) == [25 * 128, 50 * 128, 75 * 128, 100 * 128]  # step x batch x d_steps
    assert set(curves["run_id"]) == {"a"}  # a diverged run's curve is left out
    # seed 0: twins at FID 100 and 400 (geometric mean 200); seed 1: both 100
    c = pd.DataFrame({"images": [100] * 4, "seed": [0, 0, 1, 1], "fid": [100.0, 400.0, 100.0, 100.0],
                      "classes_covered": [10, 6, 10, 10]})
    band = figures.curve_bands(c).iloc[0]
    assert band["n_seeds"] == 2
    assert band["fid"] == pytest.approx(math.sqrt(200 * 100))
    assert (band["fid_lo"], band["fid_hi"]) == (pytest.approx(100), pytest.approx(200))  # over seeds, not runs
    assert (band["classes"], band["classes_lo"], band["classes_hi"]) == (9, 8, 10)


def test_learning_curves_in_the_report(rendered):
    out, html, df = rendered
    key = out.parent / "figures" / "training_curves.png"
    width, height = _png_size(key)
    assert width > PLACEHOLDER_WIDTH and height > 5 * 250  # one row of panels per (recipe, model)
    assert 'src="figures/training_curves.png"' in html and 'src="figures/loss_curves.png"' in html
    curves = html[html.index('id="curves"'):html.index('id="timing"')]
    assert "300 curve-sample images" in curves and "2000 of the end score" in curves
    assert "compare curve points with each other only" in curves
    for obs in ("g_loss", "prior", "schedule", "frameworks"):
        sec = _section(html, obs)
        src = f"figures/obs_{obs}_curves.png"
        assert f'src="{src}"' in sec, obs  # next to its observation
        assert _png_size(out.parent / src)[0] > PLACEHOLDER_WIDTH, obs
        assert "band = min–max over seeds" in sec and "300 curve-sample images" in sec


def test_guard_evidence_per_observation(rendered):
    out, html, _ = rendered
    for obs, state in (("g_loss", "passed"), ("smoothing", "failed")):
        sec = _section(html, obs)
        src = f"figures/obs_{obs}_guard.png"
        assert f'src="{src}"' in sec, obs
        assert _png_size(out.parent / src)[0] > PLACEHOLDER_WIDTH, obs
        assert f"Did it learn (guard): {state}" in sec, obs
        rows = sec[sec.index('class="guard-rows"'):]
        rows = rows[:rows.index("</details>")]
        assert rows.count("<tr>") == 1 + 3 * 2  # header + 3 seeds x 2 impls of the control arm
        assert "≤ 450" in rows
        assert ("misses" in rows) == (state == "failed") and ("passes" in rows) == (state == "passed")
    assert "the baseline did not train" in _verdict_row(html, "smoothing")
    assert "did not train" in html[html.index('id="rules"'):]  # the rule's text


def test_speed_table_from_the_benchmark(rendered):
    _, html, _ = rendered
    sec = html[html.index('<h3 id="speed">'):html.index('id="grids"')]
    assert "From the exclusive benchmark" in sec and "1 thread(s)" in sec and "interleaved" in sec
    ratios = sec[sec.index('id="speed-ratios"'):]
    ratios = ratios[:ratios.index("</table>")]
    assert "step-time ratio pytorch / tensorflow" in ratios
    assert "0.625×" in ratios and "1.25×" in ratios  # 2.5 / 4.0 and 30 / 24 ms from speed.csv
    # not the training jobs' timing (pytorch 5 ms vs tensorflow 6 ms in the summary)
    assert "training jobs" not in sec and "speed-training" not in sec and "0.833" not in sec
    timing = html[html.index('id="timing"'):html.index('id="runs"')]
    assert "From the exclusive benchmark" in timing


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """Only the BasicGAN post's recipe ran (vanilla_mnist, dcgan_carpedm20, mnist_notebook and
    dcgan_blog never did: fewer figures to draw), g_loss is left out of the config's
    observations.include, and the benchmark table is empty."""
    root = tmp_path_factory.mktemp("partial")
    df = make_summary(seeds=(0, 1, 2), root=root, rng_seed=5)
    df = _relative_summary(root, df[df["recipe"] == "basic_tutorial"])
    df.to_csv(root / "summary.csv", index=False)
    config = {**CONFIG, "observations": {"include": [o.id for o in OBSERVATIONS if o.id != "g_loss"]}}
    (root / "config.json").write_text(json.dumps(config))
    (root / "speed.csv").write_text("")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        out = report.render(Path("summary.csv"), Path("config.json"), Path("out/index.html"), Path("speed.csv"))
    finally:
        os.chdir(cwd)
    out = root / out
    return out, out.read_text(encoding="utf-8")


def test_speed_falls_back_to_training_timing(partial):
    _, html = partial
    sec = html[html.index('<h3 id="speed">'):html.index('id="grids"')]
    assert "From the training jobs' timing, not an exclusive benchmark" in sec
    assert "speed.csv is empty" in sec
    assert 'id="speed-ratios"' not in sec and "From the exclusive benchmark" not in sec
    assert "tensorflow / pytorch" in sec and "1.2" in sec  # the training jobs' ratio, 6 / 5 ms
    timing = html[html.index('id="timing"'):html.index('id="runs"')]
    assert "From the training jobs" in timing


def test_observations_not_run_are_shown_not_judged(partial):
    out, html = partial
    page = parse(html)
    assert sorted(page.obs_rows) == sorted(o.id for o in OBSERVATIONS)  # not hidden
    for obs, why in (("g_loss", "leaves it out of observations.include"), ("dcgan_adam", "no run of its arms"),
                     ("dcgan_batchnorm", "no run of its arms")):
        row = _verdict_row(html, obs)
        assert 'data-not-run="1"' in row and "not run at this scale" in row and why in row, obs
        assert "inconclusive" not in row and "<img" not in _section(html, obs), obs  # not judged, no figures
    table = pd.read_csv(out.parent / "observations.csv").drop_duplicates("id").set_index("id")
    assert table.loc["g_loss", "verdict"] == "not run at this scale"
    assert table.loc["prior", "verdict"] != "not run at this scale"
    assert 'data-not-run="1"' not in _verdict_row(html, "prior")
    # schedule ran on basic_tutorial only: its DCGAN recipe is shown as not run, the other judged
    schedule = _section(html, "schedule")
    assert "dcgan_carpedm20 — <span class=\"verdict v-not-run-at-this-scale\">" in schedule
    judged = schedule[schedule.index("<h4>basic_tutorial (basic) — "):]
    assert judged[:judged.index("</h4>")].count("not-run") == 0 and "Did it learn (guard)" in judged


# ---------------------------------------------------------------------------
# Headless Chromium
# ---------------------------------------------------------------------------


def test_report_in_headless_chromium(rendered, tmp_path):
    out, _, _ = rendered
    state = browser.page_state(out, tmp_path)
    assert state["ready"] == "complete"
    assert state["n"] > 0
    assert state["broken"] == [], f"images that did not load: {state['broken']}"
    assert sorted(state["rows"]) == sorted(o.id for o in OBSERVATIONS)
    assert state["scripts"] == 0  # the escaped run id never became a script
    assert state["title"].startswith("ganbench report")


def test_browser_check_skips_locally_but_fails_in_ci(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(browser, "CHROMEDRIVER", "/nonexistent/chromedriver")
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        browser.browser_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser.browser_or_skip()


def test_best_is_marked_only_among_conditions_that_trained():
    """A collapsed arm (one sharp image: top precision) or a did-not-learn arm is never 'best'."""
    from ganbench.stats.tables import condition_table
    from ganbench.stats.tidy import normalize

    df = make_summary(seeds=(0, 1, 2), rng_seed=5, untrained=("mnist_notebook",))
    df = normalize(df)[0]
    untrained = df["recipe"] == "mnist_notebook"
    df.loc[untrained, "precision"] = 0.99  # the best precision of the study, from runs that did not learn
    table = condition_table(df, ("precision", "fid"))
    assert table.loc[table["recipe"] == "mnist_notebook", "n_trained"].eq(0).all()
    assert not table.loc[table["recipe"] == "mnist_notebook", "best_precision"].any()
    assert table["best_precision"].sum() >= 1  # best still marked among the trained conditions
    assert (table.loc[table["best_precision"], "n_trained"] == table.loc[table["best_precision"], "n_runs"]).all()


def test_grid_labels_say_what_the_guard_found(rendered):
    out, html, df = rendered
    labels = re.findall(r'<div class="muted">[^<]*\((trained|did not learn|diverged|failed|finished, not scored|ok)\)</div>',
                        html)
    assert labels and "ok" not in labels
    assert "did not learn" in labels  # the untrained notebook recipe
    assert "trained" in labels


def test_loss_curves_per_arm_and_quality_figures(rendered):
    out, html, df = rendered
    page = parse(html)
    for name in ("pr_plane", "class_hist", "fid_vs_time"):
        assert f"figures/{name}.png" in page.imgs
        assert (out.parent / "figures" / f"{name}.png").stat().st_size > 20_000  # drawn, not a placeholder
    loss_figs = [src for src in page.imgs if re.fullmatch(r"figures/obs_.+_losses\.png", src)]
    ran = set(re.findall(r'<section id="obs-([\w-]+)">\s*<h3>[^<]*<span class="verdict v-(?!not-run)', html))
    assert len(loss_figs) == len(ran) > 5
    for src in loss_figs:
        assert (out.parent / src).stat().st_size > 20_000


def _curve_samples_run(folder: Path, steps, final: bool = False, spec: dict | None = None) -> str:
    """A run folder with curve/samples_<step>.npz at ``steps`` (and samples.npz, spec.json)."""
    (folder / "curve").mkdir(parents=True)
    images = np.zeros((20, 28, 28, 1), np.uint8)
    for step in steps:
        np.savez(folder / "curve" / f"samples_{step}.npz", images=images)
    if final:
        np.savez(folder / "samples.npz", images=images)
    if spec:
        (folder / "spec.json").write_text(json.dumps(spec))
    return str(folder)


def test_samples_as_training_goes_on_per_arm(rendered, tmp_path):
    # the arm's lowest seed that did not fail; its curve steps in order, samples.npz last only when
    # no curve point is at the last step; images seen from spec.json, else the summary row
    spec = {"steps": 100, "batch_size": 64, "d_steps": 2}
    rows = pd.DataFrame([
        {"run_id": "c0", "run_dir": str(tmp_path / "missing"), "status": "failed", "seed": 0, "impl": "pytorch"},
        {"run_id": "c2", "run_dir": _curve_samples_run(tmp_path / "c2", [25], spec=spec), "status": "ok", "seed": 2,
         "impl": "pytorch"},
        {"run_id": "c1", "run_dir": _curve_samples_run(tmp_path / "c1", [100, 50], final=True, spec=spec),
         "status": "ok", "seed": 1, "impl": "pytorch"},
        {"run_id": "t0", "run_dir": _curve_samples_run(tmp_path / "t0", [50], final=True), "status": "ok", "seed": 0,
         "impl": "tensorflow", "steps": 100, "batch_size": 32},
        {"run_id": "r0", "run_dir": _curve_samples_run(tmp_path / "r0", []), "status": "ok", "seed": 0,
         "impl": "pytorch"}])
    arm = {"c": rows[rows["run_id"].str.startswith("c")], "t": rows[rows["run_id"] == "t0"],
           "r": rows[rows["run_id"] == "r0"]}
    panels = [{"title": "basic", "series": [("control: a", arm["c"], "control"),
                                            ("treatment: b", arm["t"], "treatment"),
                                            ("reference: c", arm["r"], "reference")]}]
    resolve = lambda d: Path(d) if d else None  # noqa: E731
    cells = progress_figure.progress_cells(panels, resolve)
    assert [c[:4] for c in cells] == [("basic", "control: a", 1, [50, 100]), ("basic", "treatment: b", 0, [50, 100]),
                                      ("basic", "reference: c", 0, [])]
    assert [c.final for c in cells] == [False, True, False]
    assert [c.images_per_step for c in cells[:2]] == [128, 32]
    assert [progress_figure.count_label(n) for n in (640, 12_800, 640_000, 1_280_000)] == ["640", "12.8k", "640k", "1.28M"]
    assert progress_figure.sample_grid(Path(cells[0].files[0])).shape == (4 * 30 + 2, 4 * 30 + 2, 1)  # first 16, 4 x 4
    assert _png_size(progress_figure.progress_grids_figure(panels, resolve, tmp_path / "progress.png", "t"))[1] > 400
    only_reference = [{"title": "basic", "series": panels[0]["series"][2:]}]
    empty = progress_figure.progress_grids_figure(only_reference, resolve, tmp_path / "empty.png", "t")
    assert _png_size(empty)[1] < 300  # no arm with curve samples: a placeholder
    # in the report: one per observation that ran, inside its section after its learning curves
    out, html, df = rendered
    for obs in ("g_loss", "prior"):
        sec = _section(html, obs)
        src = f"figures/obs_{obs}_progress.png"
        assert f'src="{src}"' in sec, obs
        assert sec.index(src) > sec.index(f"figures/obs_{obs}_curves.png"), obs
        assert _png_size(out.parent / src)[1] > 400, obs  # grids, not the placeholder (~240 px high)
        assert "same noise at every point" in sec


def test_summary_table_first_one_line_per_claim(rendered):
    out, html, df = rendered
    assert html.index('id="summary-table"') < html.index('id="observations-table"')
    claims = re.findall(r'<tr data-claim="([\w-]+)">', html)
    assert claims == [o.id for o in OBSERVATIONS]
    head = html[html.index('id="summary-table"'):html.index('</table>', html.index('id="summary-table"'))]
    assert head.count("<th>") == 5
    # g_loss has a strong effect in the fixture: its line shows the effect with an interval and n
    row = re.search(r'<tr data-claim="g_loss">(.*?)</tr>', head, re.S).group(1)
    assert re.search(r"\[[^\]]+\]", row) and re.search(r'<td class="num">\d+</td>', row)
    # ... and the interval is the one its decision used: the t interval at its critical p (Holm's
    # step: alpha / j with j tests left in its claim; g_loss has one test here, so 95.0%)
    assert "95.0% CI [" in row, row
    levels = {float(x) for x in re.findall(r"(\d+\.\d+)% CI \[", html)}
    assert 95.0 in levels and any(95.0 < x < 100.0 for x in levels), levels  # claims of several tests


def test_each_claim_quotes_its_source(rendered):
    out, html, df = rendered
    section = html[html.index('<section id="obs-prior">'):]
    section = section[:section.index("</section>")]
    assert '<span lang="zh">' in section and "np.random.random" in section
    assert "basically identical" in section  # the English gloss
    assert html.count('<blockquote class="source-quote">') >= 12


def test_run_files_readers_forgive_what_a_partial_study_lacks(tmp_path):
    """ganbench.run_files: the one reader of run folders for the report and its figures."""
    from ganbench import run_files

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    assert run_files.read_spec(run) == {} and run_files.read_curve(run) == [] and run_files.read_class_hist(run) is None
    assert run_files.read_log(run / "log.csv") is None and run_files.read_spec(None) == {}
    (run / "metrics.json").write_text(json.dumps({"curve": [{"step": 5, "fid": 1.0}, {"fid": 2.0}, 3],
                                                  "class_hist": [1, 3, 0, 0]}))
    (run / "spec.json").write_text("[1, 2]")  # not an object
    (run / "log.csv").write_text("step,d_loss,g_loss\n1,0.5,x\n")
    assert run_files.read_curve(run) == [{"step": 5, "fid": 1.0}]
    assert run_files.read_class_hist(run) == [0.25, 0.75, 0.0, 0.0] and run_files.read_spec(run) == {}
    log = run_files.read_log(run / "log.csv")
    assert log["d_loss"].tolist() == [0.5] and np.isnan(log["g_loss"].iloc[0])
    resolve = run_files.Resolver(tmp_path / "results" / "s" / "summary.csv")
    assert resolve(str(run)) == run and resolve("runs/missing") is None and resolve(float("nan")) is None
