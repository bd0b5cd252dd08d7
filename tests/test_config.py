"""The config schema: shipped configs validate; bad keys and values get a message naming them."""
import copy
from pathlib import Path

import pytest
import yaml

from ganbench.config import ConfigError, check_against_impls, load_config, validate_config
from ganbench.impls import Impl

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*(REPO / "config").glob("*.yaml"), *(REPO / ".test" / "config").glob("*.yaml")])

FAKE_IMPLS = {
    name: Impl(name, name, Path(f"/x/{name}/train.py"), ("basic", "dcgan"), Path(f"/x/{name}"))
    for name in ("jax", "pytorch", "tensorflow")
}


def minimal() -> dict:
    return {"name": "t", "observations": {"include": []},
            "recipes": {"dcgan_blog": {"steps": {"basic": 10, "dcgan": 10}}},
            "design": {"main": {"recipe": "dcgan_blog", "models": ["basic"]}}}


SHIPPED = [p for p in CONFIGS if p.name != "recipes.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path, tmp_path):
    raw = yaml.safe_load(path.read_text())
    if raw.get("dataset") == "celeba" and not (raw.get("data") or {}).get("celeba_dir"):
        # shipped without a folder: the user names theirs (--config 'data={celeba_dir: /path}')
        raw["data"] = {**(raw.get("data") or {}), "celeba_dir": "/path/to/celeba"}
        path = tmp_path / path.name
        path.write_text(yaml.safe_dump(raw))
    config = load_config(path, FAKE_IMPLS)
    assert set(config["recipes"]) >= {"basic_tutorial", "vanilla_mnist", "mnist_notebook",
                                      "dcgan_carpedm20", "dcgan_blog"}


def test_source_recipes_are_merged_under_the_config():
    config = validate_config(minimal())
    blog = config["recipes"]["dcgan_blog"]
    assert blog["steps"] == {"basic": 10, "dcgan": 10}  # the config's budget
    assert blog["optim"] == "dcgan" and blog["dcgan"]["kernel_size"] == 5  # the source's setting
    assert blog["dcgan"]["padding"] == "same" and blog["basic"]["bias_init"] == 0.1
    tutorial = config["recipes"]["basic_tutorial"]
    assert (tutorial["schedule"], tutorial["optim"], tutorial["batch_size"]) == ("1:2", "tf_adam_2e-4", 64)
    assert config["optimizers"]["tf_adam_2e-4"] == {"lr": 2e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    notebook = config["recipes"]["mnist_notebook"]
    assert notebook["label_smoothing"] == 0.9 and notebook["basic"]["output"] == "tanh"
    assert notebook["basic"]["hidden_activation"] == "leaky_relu"
    vanilla = config["recipes"]["vanilla_mnist"]
    assert vanilla["fresh_noise"] is True and vanilla["batch_size"] == 128 and vanilla["optim"] == "adam_default"
    carpedm20 = config["recipes"]["dcgan_carpedm20"]
    assert carpedm20["schedule"] == "1:2" and carpedm20["dcgan"]["image_size"] == 64


def test_defaults_come_from_the_schema():
    config = validate_config(minimal())
    assert config["dataset"] == "mnist"
    assert config["seeds"] == [0, 1, 2, 3, 4]
    assert config["probe_size"] == 256 and config["curve_fractions"] == [0.25, 0.5, 0.75]
    assert config["observations"]["impls"] is None and config["frameworks"]["arms"] == "recipes"
    assert config["data"]["mnist_idx_dir"] is None
    # a recipe the user adds gets every default it leaves out
    config = validate_config({**minimal(), "recipes": {"mine": {"model": "dcgan", "steps": {"dcgan": 5}}}})
    mine = config["recipes"]["mine"]
    assert (mine["schedule"], mine["prior"], mine["label_smoothing"], mine["freeze_d"]) == ("1:1", "uniform", 1.0, True)
    assert mine["dcgan"]["kernel_size"] == 5 and mine["dcgan"]["bn_eps"] == 1e-5
    assert mine["basic"]["hidden_activation"] == "relu" and mine["basic"]["weight_init"] == "xavier_uniform"


BAD = [
    # (mutation, fragments the message must contain)
    (lambda c: c.update(sedes=[0]), ["sedes", "was unexpected", "allowed", "seeds"]),
    (lambda c: c["design"]["main"].update(priors=["gaussian"]),
     ["design.main.priors[0]", "'gaussian'", "uniform", "random", "normal"]),
    (lambda c: c["design"]["main"].update(schedules=["1-2"]),
     ["design.main.schedules[0]", "'1-2'", "matching"]),
    (lambda c: c.update(seeds=[-1]), ["seeds[0]", "-1", "minimum 0"]),
    (lambda c: c.update(seeds={"looks": [3, "x"]}), ["seeds.looks[1]", "'x'", "integer"]),
    (lambda c: c.update(seeds="0-4"), ["seeds", "'0-4'", "must be a list or a mapping"]),
    (lambda c: c["recipes"]["dcgan_blog"].update(dcgan={"image_size": 48}),
     ["recipes.dcgan_blog.dcgan.image_size", "48", "[32, 64]"]),
    (lambda c: c["recipes"]["dcgan_blog"].update(steps={"basic": "many"}),
     ["recipes.dcgan_blog.steps.basic", "'many'", "integer"]),
    (lambda c: c["recipes"]["dcgan_blog"].update(basic={"hidden_activation": "gelu"}),
     ["recipes.dcgan_blog.basic.hidden_activation", "'gelu'", "relu", "leaky_relu"]),
    (lambda c: c["recipes"]["dcgan_blog"].update(dcgan={"padding": "valid"}),
     ["recipes.dcgan_blog.dcgan.padding", "'valid'", "same", "symmetric"]),
    (lambda c: c["design"]["main"].update(models=["resnet"]),
     ["design.main.models[0]", "'resnet'", "basic", "dcgan"]),
    (lambda c: c["design"]["main"].pop("recipe"), ["'recipe' is a required property"]),
    (lambda c: c.pop("name"), ["'name' is a required property"]),
    (lambda c: c.update(gpus="two"), ["gpus", "'two'", "auto"]),
    (lambda c: c["recipes"]["dcgan_blog"].update(label_smoothing=1.5),
     ["recipes.dcgan_blog.label_smoothing", "1.5", "maximum 1"]),
    (lambda c: c.update(curve_fractions=[0.5, 1.0]), ["curve_fractions[1]", "1.0"]),
    (lambda c: c["design"]["main"].update(set={"width": 3}), ["design.main.set", "width", "allowed"]),
]


@pytest.mark.parametrize("mutate,fragments", BAD, ids=[f[1][0] for f in BAD])
def test_bad_config_names_key_value_and_allowed(mutate, fragments):
    config = minimal()
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message


def test_unknown_impl_is_named():
    config = validate_config({**minimal(), "impls": ["flax"]})
    with pytest.raises(ConfigError, match=r"impls names 'flax'.*discovered: \['jax', 'pytorch', 'tensorflow'\]"):
        check_against_impls(config, FAKE_IMPLS)


def test_model_an_impl_does_not_implement_is_named():
    impls = dict(FAKE_IMPLS, tensorflow=Impl("tensorflow", "tf", Path("/x"), ("basic",), Path("/x")))
    config = validate_config({**minimal(), "design": {"main": {"recipe": "dcgan_blog"}}})
    with pytest.raises(ConfigError, match=r"impl 'tensorflow' for model 'dcgan'.*lists only \['basic'\]"):
        check_against_impls(config, impls)


def test_unknown_optimizer_preset_is_named():
    config = validate_config({**minimal(), "design": {"a": {"recipe": "dcgan_blog", "set": {"optim": "sgd"}}}})
    with pytest.raises(ConfigError, match=r"design.a.set.optim = 'sgd'.*allowed: \['adam_default', 'dcgan'"):
        check_against_impls(config, FAKE_IMPLS)


def test_unknown_recipe_and_observation_are_named():
    config = validate_config({**minimal(), "design": {"a": {"recipe": "dcgan_paper"}}})
    with pytest.raises(ConfigError, match=r"design.a.recipe = 'dcgan_paper' is not a recipe; allowed: \['basic_tutorial'"):
        check_against_impls(config, FAKE_IMPLS)
    config = validate_config({**minimal(), "observations": {"include": ["prior", "vibes"]},
                              "recipes": {"basic_tutorial": {"steps": {"basic": 5}}}})
    with pytest.raises(ConfigError, match=r"observations.include names 'vibes'.*known: \["):
        check_against_impls(config, FAKE_IMPLS)


def test_missing_budget_names_recipe_model_and_observation():
    config = validate_config({**minimal(), "observations": {"include": ["prior"]}})
    with pytest.raises(ConfigError, match=r"recipes.basic_tutorial.steps.basic is missing: observation 'prior'"):
        check_against_impls(config, FAKE_IMPLS)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_validation_does_not_mutate_the_callers_file_dict(tmp_path):
    path = tmp_path / "c.yaml"
    original = minimal()
    path.write_text(yaml.safe_dump(original))
    load_config(path)
    assert yaml.safe_load(path.read_text()) == copy.deepcopy(original)


def test_celeba_needs_its_folder_and_the_new_keys_have_defaults():
    with pytest.raises(ConfigError, match=r"data.celeba_dir is missing.*folder holding img_align_celeba/"):
        validate_config({**minimal(), "dataset": "celeba"})
    config = validate_config({**minimal(), "dataset": "celeba", "data": {"celeba_dir": "/data/celeba"}})
    assert config["data"]["celeba_max_images"] is None and config["inception_weights"] is None
    config = validate_config({**minimal(), "inception_weights": "/w/pt_inception.pth"})
    assert config["inception_weights"] == "/w/pt_inception.pth" and config["data"]["celeba_dir"] is None
    with pytest.raises(ConfigError, match=r"data.celeba_max_images = 5 .*minimum 10"):
        validate_config({**minimal(), "dataset": "celeba", "data": {"celeba_dir": "/c", "celeba_max_images": 5}})
    with pytest.raises(ConfigError, match=r"dataset = 'cifar10' is invalid.*celeba"):
        validate_config({**minimal(), "dataset": "cifar10"})
