"""The benchmark's shapes (one per recipe x model of the study) and the speed table."""
from pathlib import Path

import pytest

from ganbench.benchmark import shape_impls, shape_spec, shapes
from ganbench.config import load_config
from ganbench.speed import speed_table

REPO = Path(__file__).resolve().parents[1]


def test_one_shape_per_recipe_and_model():
    quick = load_config(REPO / "config" / "quick.yaml")
    assert shapes(quick, ["pytorch", "tensorflow"]) == [
        "basic_tutorial-basic", "dcgan_carpedm20-dcgan", "vanilla_mnist-basic", "mnist_notebook-basic",
        "dcgan_blog-dcgan", "dcgan_blog-basic"]
    assert shapes(load_config(REPO / ".test" / "config" / "smoke.yaml"), ["pytorch"]) == ["dcgan_blog-basic", "dcgan_blog-dcgan"]
    # each shape is timed in the impls the study trains it in
    impls = shape_impls(quick, ["jax", "pytorch", "tensorflow"])
    assert impls["vanilla_mnist-basic"] == ["jax", "pytorch", "tensorflow"]
    assert impls["dcgan_carpedm20-dcgan"] == ["pytorch", "tensorflow"] and impls["mnist_notebook-basic"] == ["tensorflow"]
    smoke = shape_impls(load_config(REPO / ".test" / "config" / "smoke.yaml"), ["pytorch", "tensorflow"])
    assert smoke == {"dcgan_blog-basic": ["pytorch", "tensorflow"], "dcgan_blog-dcgan": ["pytorch", "tensorflow"]}


def test_shape_spec_is_the_recipes_own_setting_cut_short():
    quick = load_config(REPO / "config" / "quick.yaml")
    spec = shape_spec(quick, "dcgan_carpedm20-dcgan", "tensorflow")
    assert (spec["model"], spec["image_size"], spec["arch"]["base_width"], spec["g_steps"]) == ("dcgan", 32, 16, 2)
    assert spec["steps"] == quick["benchmark"]["steps"]["dcgan"] and spec["curve_fractions"] == []
    basic = shape_spec(quick, "dcgan_blog-basic", "pytorch")
    assert basic["model"] == "basic" and basic["optim_preset"] == "dcgan"


def test_speed_table_ratio_to_the_fastest_impl():
    records = [{"threads": 1, "rows": [
        {"impl": "pytorch", "shape": "s-basic", "median_step_ms": 6.0, "all_median_step_ms": [6.0]},
        {"impl": "tensorflow", "shape": "s-basic", "median_step_ms": 4.0, "all_median_step_ms": [4.0]}]},
        {"threads": 1, "rows": [{"impl": "pytorch", "shape": "t-dcgan", "median_step_ms": 50.0,
                                 "all_median_step_ms": [50.0]}]}]
    table = speed_table(records).set_index(["shape", "impl"])
    assert table.loc[("s-basic", "pytorch"), "ratio_to_fastest"] == pytest.approx(1.5)
    assert table.loc[("s-basic", "tensorflow"), "ratio_to_fastest"] == 1.0
    assert table.loc[("t-dcgan", "pytorch"), "ratio_to_fastest"] == 1.0
