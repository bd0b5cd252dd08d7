"""Grid expansion: runs are recipes with deviations; ids readable, stable and unique; specs resolved."""
import json
from pathlib import Path

import numpy as np
import pytest

from ganbench.config import load_config, validate_config
from ganbench.looks import look_runs, seed_plan
from ganbench.grid import ARCH_FACTORS, arm_factors, deviations_of, expand_runs, observation_arms

REPO = Path(__file__).resolve().parents[1]
SPEC_KEYS = {
    "run_id", "study", "impl", "recipe", "deviations", "model", "dataset", "seed", "prior", "z_dim",
    "d_steps", "g_steps", "fresh_noise", "g_loss", "label_smoothing", "freeze_d", "optim", "optim_preset",
    "batch_size", "steps", "image_size", "channels", "arch", "eval_samples", "log_every", "grid_every",
    "grid_size", "probe_size", "curve_fractions", "curve_samples", "device", "compile",
}
BUDGETS = {
    "basic_tutorial": {"steps": {"basic": 100}}, "vanilla_mnist": {"steps": {"basic": 100}},
    "mnist_notebook": {"steps": {"basic": 100}}, "dcgan_carpedm20": {"steps": {"dcgan": 50}},
    "dcgan_blog": {"steps": {"basic": 60, "dcgan": 60}},
}


def study(**extra):
    config = {"name": "t", "seeds": [0, 1], "recipes": json.loads(json.dumps(BUDGETS))}
    config.update(extra)
    return validate_config(config)


def test_every_observation_arm_is_its_recipe_plus_the_claims_factor():
    config = study()
    runs = expand_runs(config, ["pytorch", "tensorflow"])
    arms = observation_arms()
    for obs_id, obs_arms in arms.items():
        for recipe, deviations in obs_arms:
            for impl in ("pytorch", "tensorflow"):
                for seed in (0, 1):
                    match = [r for r in runs.values()
                             if r.spec["recipe"] == recipe and r.spec["deviations"] == deviations
                             and r.spec["impl"] == impl and r.spec["seed"] == seed]
                    assert len(match) == 1, (obs_id, recipe, deviations)
                    assert obs_id in match[0].sets
    # deviations change exactly the named factors of the source's setting
    spec = runs["pytorch-basic_tutorial-unfrozen-s0"].spec
    base = runs["pytorch-basic_tutorial-s0"].spec
    differing = {k for k in SPEC_KEYS if spec[k] != base[k]}
    assert differing == {"run_id", "freeze_d", "deviations"}


def test_every_claims_arms_differ_only_in_its_factor():
    """Treatment and control of every claim differ in the claim's factor and nothing else (a
    schedule is d_steps / g_steps); what they share beyond the recipe (dominance's wide D) is the
    claim's premise, the same in both arms."""
    from ganbench.observations import OBSERVATIONS

    keys = {"schedule": {"d_steps", "g_steps"}, "model": {"model", *ARCH_FACTORS}}  # a model has its own arch
    config = study()
    for obs in OBSERVATIONS:
        if obs.kind != "difference":
            continue
        for recipe in obs.recipes:
            t = arm_factors(config["recipes"][recipe], obs.treatment)
            c = arm_factors(config["recipes"][recipe], obs.control)
            differ = {k for k in set(t) | set(c) if t.get(k) != c.get(k)}
            assert differ and differ <= keys.get(obs.factor, {obs.factor}), (obs.id, recipe, differ)


def test_ids_name_the_recipe_and_each_deviation():
    runs = expand_runs(study(), ["pytorch"])
    for run_id in ("pytorch-basic_tutorial-s0", "pytorch-basic_tutorial-prior-random-s1",
                   "pytorch-basic_tutorial-d1g1-s0", "pytorch-basic_tutorial-d2g1-s0",
                   "pytorch-vanilla_mnist-minimax-s0", "pytorch-mnist_notebook-ls1-s0",
                   "pytorch-mnist_notebook-act-relu-s0", "pytorch-mnist_notebook-out-sigmoid-s0",
                   "pytorch-dcgan_blog-basic-s0", "pytorch-dcgan_carpedm20-opt-adam_default-s1",
                   "pytorch-dcgan_blog-nobn-s1", "pytorch-dcgan_carpedm20-sumloss-s0",
                   "pytorch-vanilla_mnist-logform-s0", "pytorch-dcgan_blog-logform-s1",
                   "pytorch-basic_tutorial-dh512-s0", "pytorch-basic_tutorial-d1g1-dh512-s1"):
        assert run_id in runs, run_id
    assert runs["pytorch-basic_tutorial-s0"].sets == ["prior", "freeze_d", "schedule", "z_dim"]


def test_specs_carry_the_source_settings():
    runs = expand_runs(study(), ["pytorch"])
    tutorial = runs["pytorch-basic_tutorial-s0"].spec
    assert set(tutorial) == SPEC_KEYS
    assert (tutorial["d_steps"], tutorial["g_steps"], tutorial["batch_size"]) == (1, 2, 64)
    assert tutorial["optim"]["g"] == {"lr": 2e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert tutorial["arch"] == {"hidden": 128, "hidden_activation": "relu", "leaky_slope": 0.2,
                                "output": "sigmoid", "weight_init": "xavier_uniform", "init_std": 0.02,
                                "bias_init": 0.1}
    vanilla = runs["pytorch-vanilla_mnist-s0"].spec
    assert vanilla["fresh_noise"] and vanilla["batch_size"] == 128 and vanilla["optim"]["d"]["lr"] == 1e-3
    notebook = runs["pytorch-mnist_notebook-act-relu-s0"].spec
    assert notebook["arch"]["hidden_activation"] == "relu" and notebook["arch"]["output"] == "tanh"
    assert notebook["label_smoothing"] == 0.9
    carpedm20 = runs["pytorch-dcgan_carpedm20-s0"].spec
    assert carpedm20["image_size"] == 64 and carpedm20["arch"]["batch_norm"] is True
    assert carpedm20["arch"]["padding"] == "same" and carpedm20["arch"]["kernel_size"] == 5
    assert "image_size" not in carpedm20["arch"]
    blog_nobn = runs["pytorch-dcgan_blog-nobn-s0"].spec
    assert blog_nobn["arch"]["batch_norm"] is False and blog_nobn["arch"]["outer_conv_bias"] is False
    blog_basic = runs["pytorch-dcgan_blog-basic-s0"].spec
    assert blog_basic["model"] == "basic" and blog_basic["image_size"] == 28 and blog_basic["steps"] == 60
    assert blog_basic["optim_preset"] == "dcgan" and blog_basic["deviations"] == {"model": "basic"}
    json.dumps(tutorial)  # serialisable as spec.json
    checkpointed = expand_runs(study(checkpoint_every=100), ["pytorch"])["pytorch-basic_tutorial-s0"].spec
    assert checkpointed["checkpoint_every"] == 100 and set(checkpointed) == SPEC_KEYS | {"checkpoint_every"}


def test_dcgan_blog_is_the_posts_model_code():
    """The DCGAN post's generator / discriminator (TF-1, 64 px) tensor by tensor: G_FW1 [100, 4*4*1024] with
    G_Fb1 and no BN; G_W1..G_W4 5x5 (1024 -> 512 -> 256 -> 128 -> channels) with gamma-less BN after the first
    three and no bias; D_W1..D_W4 5x5 (channels -> 64 -> 128 -> 256 -> 512) with no bias, gamma-less BN after
    the last three; D_FW1 [4*4*512, 1] with D_Fb1. Initial values: truncated N(0, 0.02) convs, N(0, 0.01) dense,
    zero biases. (The recipe runs 32 px on MNIST, one layer fewer: the recipe's comment.)"""
    from ganbench import runkit

    spec = expand_runs(study(), ["pytorch"])["pytorch-dcgan_blog-s0"].spec
    assert spec["image_size"] == 32 and (spec["d_steps"], spec["g_steps"]) == (1, 1)
    assert spec["optim"]["d"] == spec["optim"]["g"] == {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}
    at64 = runkit.validate_spec({**spec, "image_size": 64})
    shapes = {p.name: p.shape for p in runkit.param_specs(at64)}
    bn = lambda net, i, c: {f"{net}/bn{i}/beta": (c,), f"{net}/bn{i}/moving_mean": (c,), f"{net}/bn{i}/moving_var": (c,)}
    assert shapes == {
        "G/fc/kernel": (100, 4 * 4 * 1024), "G/fc/bias": (4 * 4 * 1024,),
        "G/deconv1/kernel": (5, 5, 512, 1024), **bn("G", 1, 512), "G/deconv2/kernel": (5, 5, 256, 512),
        **bn("G", 2, 256), "G/deconv3/kernel": (5, 5, 128, 256), **bn("G", 3, 128), "G/deconv4/kernel": (5, 5, 1, 128),
        "D/conv0/kernel": (5, 5, 1, 64), "D/conv1/kernel": (5, 5, 64, 128), **bn("D", 1, 128),
        "D/conv2/kernel": (5, 5, 128, 256), **bn("D", 2, 256), "D/conv3/kernel": (5, 5, 256, 512), **bn("D", 3, 512),
        "D/fc/kernel": (4 * 4 * 512, 1), "D/fc/bias": (1,)}
    assert runkit.stride2_padding(at64) == (1, 2)  # TF 'SAME' at stride 2, kernel 5
    assert runkit.bn_batch_inference(at64) and at64["arch"]["bn_momentum"] == 0.1 and at64["arch"]["bn_eps"] == 1e-5
    state = runkit.init_params(at64, np.random.default_rng(0))
    for name, arr in state.items():
        if name.endswith("/kernel") and "fc" in name:
            assert abs(arr.std() / 0.01 - 1) < 0.05 and np.abs(arr).max() > 0.03, name  # plain normal: tails beyond 2 std
        elif name.endswith("/kernel"):
            assert np.abs(arr).max() <= 0.04 and abs(arr.std() / (0.02 * 0.8796) - 1) < 0.05, name  # truncated at 2 std
        elif name.endswith(("/bias", "/beta", "moving_mean")):
            assert not arr.any(), name


def test_deviations_round_trip_and_reject_factors_of_the_other_model():
    config = study()
    recipe = config["recipes"]["mnist_notebook"]
    factors = arm_factors(recipe, {"output": "sigmoid", "label_smoothing": 1})
    assert factors["output"] == "sigmoid" and factors["label_smoothing"] == 1.0
    assert deviations_of(recipe, factors) == {"output": "sigmoid", "label_smoothing": 1.0}
    assert deviations_of(recipe, arm_factors(recipe, {"output": "tanh"})) == {}  # equal to the recipe
    with pytest.raises(KeyError, match="batch_norm.*dcgan model only"):
        arm_factors(recipe, {"batch_norm": False})
    with pytest.raises(KeyError, match="unknown deviation"):
        arm_factors(recipe, {"width": 3})


def test_observations_in_one_impl_and_frameworks_on_the_recipes():
    config = study(observations={"impls": ["tensorflow"]})
    runs = expand_runs(config, ["pytorch", "tensorflow"])
    pytorch = sorted(r for r in runs if r.startswith("pytorch-"))
    recipes = ["basic_tutorial", "dcgan_blog", "dcgan_carpedm20", "mnist_notebook", "vanilla_mnist"]
    assert pytorch == [f"pytorch-{r}-s{s}" for r in recipes for s in (0, 1)]
    assert all(runs[r].sets == ["frameworks"] for r in pytorch)
    some = expand_runs(study(observations={"impls": ["tensorflow"]}, frameworks={"recipes": ["vanilla_mnist"]}),
                       ["pytorch", "tensorflow"])
    assert sorted(r for r in some if r.startswith("pytorch-")) == ["pytorch-vanilla_mnist-s0", "pytorch-vanilla_mnist-s1"]
    with pytest.raises(KeyError, match=r"frameworks.recipes names \['nope'\]"):
        expand_runs(study(observations={"impls": ["tensorflow"]}, frameworks={"recipes": ["nope"]}), ["pytorch"])
    everything = expand_runs(study(observations={"impls": ["tensorflow"]}, frameworks={"arms": "all"}),
                             ["pytorch", "tensorflow"])
    assert len(everything) == len(expand_runs(study(), ["pytorch", "tensorflow"]))


def test_reference_arms_can_be_left_out():
    runs = expand_runs(study(observations={"references": False}), ["pytorch"])
    assert "pytorch-basic_tutorial-prior-normal-s0" not in runs and "pytorch-basic_tutorial-d2g1-s0" not in runs
    assert "pytorch-basic_tutorial-prior-random-s0" in runs and "pytorch-basic_tutorial-d1g1-s0" in runs
    # normal prior, 2 x 2:1 schedule, dominance's two G-wider arms, z_dim 200; 2 seeds
    assert len(expand_runs(study(), ["pytorch"])) - len(runs) == 6 * 2


def test_design_sets_cross_a_recipe_and_dedupe_with_observations():
    config = study(observations={"include": ["dcgan_vs_basic"]},
                   design={"cross": {"recipe": "dcgan_blog", "models": ["basic", "dcgan"],
                                     "priors": ["uniform", "random"], "schedules": ["1:1", "2:1"]}})
    runs = expand_runs(config, ["pytorch"])
    assert len(runs) == 2 * 2 * 2 * 2  # models x priors x schedules x seeds; the observation's arms included
    assert runs["pytorch-dcgan_blog-s0"].sets == ["dcgan_vs_basic", "cross"]
    assert runs["pytorch-dcgan_blog-basic-prior-random-d2g1-s1"].spec["d_steps"] == 2


def test_ids_are_stable_when_the_grid_grows():
    small = expand_runs(study(seeds=[0, 1]), ["pytorch", "tensorflow"])
    large = expand_runs(study(seeds=[0, 1, 2]), ["pytorch", "tensorflow"])
    assert set(small) < set(large)
    for run_id, run in small.items():
        assert large[run_id].spec == run.spec
    assert {r for r in large if r not in small} == {r for r in large if r.endswith("-s2")}


def test_budget_changes_keep_ids_but_change_specs():
    a = expand_runs(study(), ["pytorch"])
    budgets = json.loads(json.dumps(BUDGETS))
    budgets["basic_tutorial"]["steps"]["basic"] = 7
    b = expand_runs(study(recipes=budgets), ["pytorch"])
    assert set(a) == set(b)
    assert b["pytorch-basic_tutorial-s0"].spec["steps"] == 7


@pytest.mark.parametrize("name,expected,first_look", [("config/config.yaml", 1320, 396),
                                                      ("config/quick.yaml", 95, 38),
                                                      (".test/config/smoke.yaml", 6, 6)])
def test_shipped_grid_sizes(name, expected, first_look):
    """Runs planned up to the cap of the seed design, and those of its first look."""
    config = load_config(REPO / name)
    runs = expand_runs(config, ["jax", "pytorch", "tensorflow"])
    assert len(runs) == expected
    assert len({r.spec["run_id"] for r in runs.values()}) == expected
    assert len(look_runs(runs, seed_plan(config), 1, {})) == first_look


@pytest.mark.parametrize("dataset, basic_size, channels", [("mnist", 28, 1), ("fashion_mnist", 28, 1),
                                                           ("celeba", 64, 3)])
def test_specs_take_channels_and_basic_size_from_the_dataset(dataset, basic_size, channels):
    from ganbench import runkit

    data = {"celeba_dir": "/data/celeba"} if dataset == "celeba" else {}
    runs = expand_runs(study(dataset=dataset, data=data), ["pytorch"])
    for run in runs.values():
        spec = runkit.validate_spec(run.spec)  # every planned spec passes the impls' own validation
        assert spec["dataset"] == dataset and spec["channels"] == channels
        expected = basic_size if spec["model"] == "basic" else \
            study()["recipes"][spec["recipe"]]["dcgan"]["image_size"]
        assert spec["image_size"] == expected, run.run_id
    assert {r.spec["model"] for r in runs.values()} == {"basic", "dcgan"}


def test_short_runs_log_at_least_forty_rows():
    from ganbench.grid import MIN_LOG_ROWS, log_every_for
    assert MIN_LOG_ROWS == 40
    assert log_every_for(200, 75000) == 200          # long runs keep the config's cadence
    assert log_every_for(200, 1500) == 37            # 1500 steps: 40 rows, 20 of them in the second half
    assert log_every_for(200, 30) == 10              # never finer than every 10 steps ...
    assert log_every_for(10, 40) == 10 and log_every_for(5, 20) == 5  # ... unless the config asks
    rows = lambda every, steps: sum(1 for s in range(1, steps + 1) if s % every == 0 or s == steps)
    late = lambda every, steps: sum(1 for s in range(steps // 2 + 1, steps + 1) if s % every == 0 or s == steps)
    for steps in (1500, 2000, 7000, 8000, 20000):
        every = log_every_for(200, steps)
        assert rows(every, steps) >= MIN_LOG_ROWS and late(every, steps) >= 20, steps
