"""Three channels (dataset: celeba, RGB) through every discovered impl's entry point.

One run per impl x model on a tiny CelebA npz built by the real builder from a synthetic folder of
JPEGs (tests/celeba_helpers.py): BasicGAN at 64x64x3 (12288 inputs, basic_tutorial's knobs) and the
DCGAN at 32 px (dcgan_carpedm20's knobs: kernel 5 'same', 1 D : 2 G steps; training and probe
images go through the 64 -> 32 PIL resize). 32 rather than 64 px because the JAX impl's compile
time doubles with the fourth layer, while channels only touch D's first and G's last layer, the
same at both sizes. Each run must write every contract file with samples [N, S, S, 3]
(tests/test_contract.py's checks). The runs of one spec share weights, batches and noise, so
PyTorch's log.csv must agree with every other impl's to test_twins.CLI_LOSS_ATOL at every step, and
their samples to test_twins.CLI_PIXELS_EQUAL (the MNIST twins' checks, tests/test_twins.py).
All runs start at once in a module fixture, two at a time.

Both bounds hold with either CPU kernel family (tests/README.md): measured worst logged-value
difference 7.2e-7 with an AVX2 CPU's default kernels and 6.0e-7 with SSE kernels and TensorFlow on
Eigen (bound 1e-5), pixels equal 0.999985 with both (bound 0.999). A swapped colour channel in one
impl (its training images read as BGR) fails both checks at once (logged values 0.87 apart, 64%
of pixels equal).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from celeba_helpers import make_synthetic_celeba
from ganbench import runkit
from ganbench.data import build_dataset
from test_contract import IMPLS, assert_contract_files, run_entry
from test_twins import CLI_LOSS_ATOL, CLI_PIXELS_EQUAL, _read_log, assert_informative
from twins_helpers import cases as C

SIZE = runkit.DATASET_GEOMETRY["celeba"][0]
# One chunk length (log_every 1) and one batch size per network call (samples, curve and grid 16,
# both probe batches 4): the JAX impl compiles once per shape, and that dominates a run this short.
COMMON = dict(dataset="celeba", channels=3, image_size=SIZE, batch_size=8, eval_samples=16, grid_size=16,
              probe_size=4, curve_fractions=[0.5], curve_samples=16, z_dim=16, log_every=1)
SPECS = {
    "basic": C.make_spec(**C.recipe_kw("basic_tutorial", steps=8, grid_every=4, arch={"hidden": 32}), **COMMON),
    "dcgan": C.make_spec(**C.recipe_kw("dcgan_carpedm20", steps=6, grid_every=0, arch={"base_width": 8}),
                         **{**COMMON, "image_size": 32}),
}
RUNS = [(impl, model) for impl in IMPLS for model in IMPLS[impl].models]
# (model, impl) pairs compared with the PyTorch impl's run of the same spec
TWINS = [(model, other) for model in ("basic", "dcgan") for other in IMPLS
         if other != "pytorch" and (other, model) in RUNS and ("pytorch", model) in RUNS]


@pytest.fixture(scope="module")
def rgb_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rgb")
    data = tmp / "celeba.npz"
    build_dataset("celeba", data, celeba_dir=str(make_synthetic_celeba(tmp / "celeba", n=40)))  # 36 train, 4 test

    def go(key):
        impl, model = key
        spec = {**SPECS[model], "impl": impl, "run_id": f"{impl}-{model}-rgb"}
        out = tmp / f"{impl}-{model}"
        return key, (run_entry(impl, spec, data, out), out, spec)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(go, RUNS))


@pytest.mark.parametrize("impl, model", RUNS)
def test_rgb_entry_point_writes_every_contract_file(rgb_runs, impl, model):
    proc, out, spec = rgb_runs[(impl, model)]
    assert_contract_files(proc, out, spec, impl)
    for step in (spec["steps"] // 2, spec["steps"]):
        with np.load(out / "curve" / f"samples_{step}.npz") as npz:
            assert npz["images"].shape == (16, spec["image_size"], spec["image_size"], 3)
            assert npz["images"].dtype == np.uint8
    with np.load(out / "samples.npz") as npz:
        images = npz["images"]
    assert_informative(images)
    assert np.abs(images[..., 0].astype(int) - images[..., 2]).max() > 0, "three channels, not one repeated"


def _ran(rgb_runs, impl, model):
    proc, out, _ = rgb_runs[(impl, model)]
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.mark.parametrize("model, other", TWINS)
def test_rgb_twins_logged_losses_agree(rgb_runs, model, other, capsys):
    a, b = (_read_log(_ran(rgb_runs, fw, model) / "log.csv") for fw in ("pytorch", other))
    assert a.shape == b.shape and a[-1, 0] == SPECS[model]["steps"]
    diff = np.abs(a[:, 1:] - b[:, 1:])  # d_loss, g_loss, d_real, d_fake and both probes
    with capsys.disabled():
        print(f"\n[rgb twins {model}, {SPECS[model]['steps']} steps] max |pytorch - {other}| of the logged "
              f"values {diff.max():.2e}")
    assert np.isfinite(a).all() and diff.max() <= CLI_LOSS_ATOL, f"{model}: logged values differ by {diff.max():.2e}"


@pytest.mark.parametrize("model, other", TWINS)
def test_rgb_twins_samples_agree(rgb_runs, model, other, capsys):
    imgs = []
    for fw in ("pytorch", other):
        with np.load(_ran(rgb_runs, fw, model) / "samples.npz") as npz:
            imgs.append(npz["images"])
    a, b = imgs
    equal = float((a == b).mean())
    with capsys.disabled():
        print(f"\n[rgb twins {model}, pytorch vs {other}] samples.npz pixels equal {equal:.6f}")
    assert a.shape == b.shape and equal >= CLI_PIXELS_EQUAL
