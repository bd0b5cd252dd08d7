"""ganbench.runkit: spec loading, streams, data, initialisers, writers (numpy only)."""
from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganbench import runkit
from ganbench.runkit import data as rdata
from ganbench.runkit import loop as rloop

REPO = Path(__file__).resolve().parents[1]

EXAMPLE = {
    "run_id": "pytorch-basic-uniform-d1g1-s0", "study": "smoke", "impl": "pytorch", "model": "basic",
    "dataset": "mnist", "seed": 0, "prior": "uniform", "z_dim": 100, "d_steps": 1, "g_steps": 1,
    "fresh_noise": False, "g_loss": "nonsaturating", "label_smoothing": 1.0, "freeze_d": True,
    "optim": {"d": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8},
              "g": {"lr": 0.0002, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}},
    "optim_preset": "dcgan", "batch_size": 64, "steps": 200, "image_size": 28, "channels": 1,
    "arch": {"hidden": 128, "output": "sigmoid"}, "eval_samples": 1000, "log_every": 50, "grid_every": 0,
    "grid_size": 64, "device": "auto", "compile": False,
}
DCGAN_ARCH = {"base_width": 32, "kernel_size": 4, "bn_momentum": 0.1, "bn_eps": 1e-5}


def spec(**kw):
    s = copy.deepcopy(EXAMPLE)
    s.update(kw)
    if s["model"] == "dcgan" and "arch" not in kw:
        s["arch"] = dict(DCGAN_ARCH)
    if s["model"] == "dcgan" and "image_size" not in kw:
        s["image_size"] = 32
    return runkit.validate_spec(s)


def write(tmp_path, obj, name="spec.json"):
    p = tmp_path / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return p


# ------------------------------------------------------------------ spec
def test_example_spec_loads(tmp_path):
    s = runkit.load_spec(write(tmp_path, EXAMPLE))
    assert s["model"] == "basic" and s["arch"]["hidden"] == 128
    d = runkit.load_spec(write(tmp_path, {**EXAMPLE, "model": "dcgan", "image_size": 64, "arch": DCGAN_ARCH}))
    assert d["arch"]["kernel_size"] == 4


def test_unknown_keys_are_kept_and_arch_defaults_filled(tmp_path):
    s = runkit.load_spec(write(tmp_path, {**EXAMPLE, "future_knob": 3, "arch": {}}))
    assert s["future_knob"] == 3
    assert s["arch"] == {"hidden": 128, "output": "sigmoid", "hidden_activation": "relu", "leaky_slope": 0.2,
                         "weight_init": "xavier_uniform", "init_std": 0.02, "bias_init": 0.0,
                         "g_hidden": 128, "d_hidden": 128}  # each network's width: hidden unless set
    assert s["probe_size"] == 256 and s["curve_fractions"] == [] and s["curve_samples"] == s["eval_samples"]
    assert (s["loss_reduction"], s["loss_form"]) == ("mean", "logits")
    with pytest.raises(runkit.SpecError, match="loss_form"):
        runkit.load_spec(write(tmp_path, {**EXAMPLE, "loss_form": "log"}))
    with pytest.raises(runkit.SpecError, match="arch.d_hidden"):
        runkit.load_spec(write(tmp_path, {**EXAMPLE, "arch": {"d_hidden": 0}}))
    assert "recipe" not in s and "deviations" not in s
    d = runkit.load_spec(write(tmp_path, {**EXAMPLE, "model": "dcgan", "image_size": 32, "arch": {}}))
    assert d["arch"] == {"base_width": 64, "kernel_size": 5, "padding": "symmetric", "batch_norm": True,
                         "bn_momentum": 0.1, "bn_eps": 1e-5, "weight_init": "normal", "init_std": 0.02,
                         "bias_init": 0.0, "leaky_slope": 0.2, "g_width_mult": 1, "projection_bn": True,
                         "bn_scale": True, "outer_conv_bias": True, "dense_init": None, "dense_init_std": None,
                         "bn_inference": "running"}
    dcgan = {**EXAMPLE, "model": "dcgan", "image_size": 32}
    for arch, key in (({"bn_inference": "train"}, "arch.bn_inference"), ({"g_width_mult": 0}, "arch.g_width_mult"),
                      ({"bn_scale": 1}, "arch.bn_scale"), ({"dense_init": "he"}, "arch.dense_init"),
                      ({"dense_init_std": -1}, "arch.dense_init_std"), ({"projection_bn": "no"}, "arch.projection_bn")):
        with pytest.raises(runkit.SpecError, match=key):
            runkit.load_spec(write(tmp_path, {**dcgan, "arch": arch}))


@pytest.mark.parametrize("key", ["seed", "prior", "optim", "arch", "steps", "freeze_d", "compile"])
def test_missing_key_is_named(tmp_path, key):
    bad = {k: v for k, v in EXAMPLE.items() if k != key}
    with pytest.raises(runkit.SpecError, match=f"'{key}'"):
        runkit.load_spec(write(tmp_path, bad))


@pytest.mark.parametrize("patch, named", [
    ({"seed": "0"}, "seed"),
    ({"seed": -1}, "seed"),
    ({"freeze_d": 1}, "freeze_d"),
    ({"d_steps": True}, "d_steps"),
    ({"d_steps": 0}, "d_steps"),
    ({"prior": "gaussian"}, "prior"),
    ({"g_loss": "wasserstein"}, "g_loss"),
    ({"label_smoothing": 1.5}, "label_smoothing"),
    ({"grid_size": 50}, "grid_size"),
    ({"image_size": 32}, "image_size"),
    ({"model": "vae"}, "model"),
    ({"device": "tpu"}, "device"),
    ({"arch": {"hidden": 0}}, "arch.hidden"),
    ({"arch": {"output": "relu"}}, "arch.output"),
    ({"optim": {"d": {"lr": 1e-3}}}, "optim.g"),
    ({"optim": {"d": {"beta1": 0.5}, "g": {"lr": 1e-3}}}, "optim.d.lr"),
    ({"optim": {"d": {"lr": -1}, "g": {"lr": 1e-3}}}, "optim.d.lr"),
    ({"optim": {"d": {"lr": 1e-3, "beta2": 1.0}, "g": {"lr": 1e-3}}}, "optim.d.beta2"),
    ({"model": "dcgan", "image_size": 28, "arch": DCGAN_ARCH}, "image_size"),
    ({"model": "dcgan", "image_size": 32, "arch": {**DCGAN_ARCH, "kernel_size": 3}}, "arch.kernel_size"),
    ({"model": "dcgan", "image_size": 32, "arch": {**DCGAN_ARCH, "bn_momentum": 0}}, "arch.bn_momentum"),
    ({"arch": {"hidden_activation": "elu"}}, "arch.hidden_activation"),
    ({"arch": {"leaky_slope": -0.1}}, "arch.leaky_slope"),
    ({"arch": {"leaky_slope": "0.2"}}, "arch.leaky_slope"),
    ({"arch": {"weight_init": "he"}}, "arch.weight_init"),
    ({"arch": {"init_std": 0}}, "arch.init_std"),
    ({"arch": {"bias_init": None}}, "arch.bias_init"),
    ({"arch": {"bias_init": True}}, "arch.bias_init"),
    ({"model": "dcgan", "image_size": 32, "arch": {**DCGAN_ARCH, "padding": "valid"}}, "arch.padding"),
    ({"model": "dcgan", "image_size": 32, "arch": {**DCGAN_ARCH, "batch_norm": "yes"}}, "arch.batch_norm"),
    ({"model": "dcgan", "image_size": 32, "arch": {**DCGAN_ARCH, "leaky_slope": 1.5}}, "arch.leaky_slope"),
    ({"probe_size": -1}, "probe_size"),
    ({"probe_size": 2.5}, "probe_size"),
    ({"curve_fractions": [0.5, 1.0]}, "curve_fractions"),
    ({"curve_fractions": 0.5}, "curve_fractions"),
    ({"curve_samples": 0}, "curve_samples"),
    ({"recipe": 3}, "recipe"),
    ({"dataset": "cifar10"}, "dataset"),
    ({"channels": 3}, "channels"),
    ({"dataset": "celeba"}, "channels"),
    ({"dataset": "celeba", "channels": 3}, "image_size"),  # basic on CelebA is 64
    ({"dataset": "celeba", "channels": 3, "model": "dcgan", "image_size": 28, "arch": DCGAN_ARCH}, "image_size"),
    ({"deviations": ["prior"]}, "deviations"),
])
def test_bad_value_is_named(tmp_path, patch, named):
    with pytest.raises(runkit.SpecError, match=f"'{named}'"):
        runkit.load_spec(write(tmp_path, {**EXAMPLE, **patch}))


def test_unreadable_and_invalid_json(tmp_path):
    with pytest.raises(runkit.SpecError, match="cannot read"):
        runkit.load_spec(tmp_path / "nope.json")
    with pytest.raises(runkit.SpecError, match="not valid JSON"):
        runkit.load_spec(write(tmp_path, "{not json"))
    with pytest.raises(runkit.SpecError, match="object"):
        runkit.load_spec(write(tmp_path, "[1, 2]"))


# ------------------------------------------------------------------ streams
def test_streams_are_reproducible_and_independent():
    a, b, c = runkit.make_streams(3), runkit.make_streams(3), runkit.make_streams(4)
    draws = {n: getattr(a, n).random(1000) for n in runkit.STREAM_NAMES if n != "framework"}
    for n, x in draws.items():
        np.testing.assert_array_equal(x, getattr(b, n).random(1000))
        assert not np.array_equal(x, getattr(c, n).random(1000))
    names = list(draws)
    for i, n in enumerate(names):
        for m in names[i + 1:]:
            assert abs(np.corrcoef(draws[n], draws[m])[0, 1]) < 0.15, (n, m)
    assert a.framework_seed() == b.framework_seed() == a.framework_seed()
    assert 0 <= a.framework_seed() < 2**31 and a.framework_seed() != c.framework_seed()


def test_stream_use_does_not_leak_between_streams():
    a, b = runkit.make_streams(0), runkit.make_streams(0)
    a.noise.random(12345)  # heavy use of one stream ...
    np.testing.assert_array_equal(a.eval.random(10), b.eval.random(10))  # ... leaves the others alone
    with pytest.raises(ValueError):
        runkit.make_streams(-1)


def test_chunk_plan_does_not_depend_on_chunking():
    s = spec(d_steps=2, g_steps=1, batch_size=8, z_dim=5, fresh_noise=True)
    def planner():
        st = runkit.make_streams(1)
        return runkit.ChunkPlanner(s, 50, st.batches, st.noise)
    p1, p2 = planner(), planner()
    idx, noise = p1.plan(10)
    parts = [p2.plan(3), p2.plan(7)]
    np.testing.assert_array_equal(idx, np.concatenate([x[0] for x in parts]))
    np.testing.assert_array_equal(noise, np.concatenate([x[1] for x in parts]))
    assert idx.shape == (10, 2, 8) and noise.shape == (10, 3, 8, 5) and noise.dtype == np.float32
    assert runkit.noise_batches_per_iteration(spec()) == 1


def test_batch_sampler_permutes_each_epoch():
    bs = runkit.BatchSampler(10, 3, np.random.default_rng(0))
    epoch1 = np.concatenate([bs.next() for _ in range(3)])
    assert len(set(epoch1.tolist())) == 9  # 3 full batches, tail of 1 dropped
    epoch2 = np.concatenate([bs.next() for _ in range(3)])
    assert bs.epoch == 2 and len(set(epoch2.tolist())) == 9 and not np.array_equal(epoch1, epoch2)
    with pytest.raises(ValueError):
        runkit.BatchSampler(2, 3, np.random.default_rng(0))


def test_noise_index_mapping():
    s = spec(d_steps=2, g_steps=3, fresh_noise=True)
    assert [runkit.d_noise_index(s, j) for j in range(2)] == [0, 1]
    assert [runkit.g_noise_index(s, k) for k in range(3)] == [2, 3, 4]
    s = spec(d_steps=2, g_steps=3)
    assert {runkit.d_noise_index(s, 1), runkit.g_noise_index(s, 2)} == {0}


def test_priors():
    rng = np.random.default_rng(0)
    assert runkit.sample_noise(rng, "random", (100000,)).max() < 1.0
    with pytest.raises(ValueError):
        runkit.sample_noise(rng, "cauchy", (3,))


# ------------------------------------------------------------------ parameters
def test_basic_init_statistics():
    s = spec(z_dim=100)
    st = runkit.make_streams(0)
    state = runkit.init_params(s, st.init)
    runkit.check_state(s, state)
    assert list(state) == [p.name for p in runkit.param_specs(s)]
    k = state["D/fc1/kernel"]
    bound = np.sqrt(6 / (784 + 128))
    assert k.shape == (784, 128) and k.dtype == np.float32
    assert np.abs(k).max() <= bound and np.abs(k).max() > 0.99 * bound
    assert abs(k.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert not state["G/fc2/bias"].any() and state["G/fc2/kernel"].shape == (128, 784)
    again = runkit.init_params(s, runkit.make_streams(0).init)
    assert all(np.array_equal(state[n], again[n]) for n in state)
    other = runkit.init_params(s, runkit.make_streams(1).init)
    assert not np.array_equal(state["D/fc1/kernel"], other["D/fc1/kernel"])


@pytest.mark.parametrize("size, k", [(32, 4), (32, 5), (64, 5)])
def test_dcgan_params(size, k):
    s = spec(model="dcgan", image_size=size, arch={**DCGAN_ARCH, "kernel_size": k})
    dims = runkit.dcgan_dims(s)
    n = {32: 3, 64: 4}[size]
    assert dims["n"] == n and dims["c0"] == 32 * 2 ** (n - 1)
    state = runkit.init_params(s, runkit.make_streams(0).init)
    assert state["G/fc/kernel"].shape == (100, 16 * dims["c0"])
    assert state["G/deconv1/kernel"].shape == (k, k, dims["c0"] // 2, dims["c0"])  # (kh, kw, out, in)
    assert state[f"G/deconv{n}/kernel"].shape == (k, k, 1, 32)
    assert state["D/conv0/kernel"].shape == (k, k, 1, 32)  # (kh, kw, in, out)
    assert state["D/fc/kernel"].shape == (16 * dims["c0"], 1)
    w = np.concatenate([v.ravel() for name, v in state.items() if name.endswith("kernel")])
    assert abs(w.std() - 0.02) < 0.001 and abs(w.mean()) < 0.001
    assert (state["G/bn0/gamma"] == 1).all() and (state["G/bn0/moving_var"] == 1).all()
    assert not state["D/bn1/beta"].any() and not state["D/bn1/moving_mean"].any()
    assert "D/bn0/gamma" not in state  # no BN on D's first conv
    trainable = sum(v.size for name, v in state.items() if not name.endswith(("moving_mean", "moving_var")))
    assert runkit.count_params(s) == trainable


def test_conv_padding_and_xavier():
    assert runkit.conv_padding(4) == (1, 0) and runkit.conv_padding(5) == (2, 1)
    with pytest.raises(ValueError):
        runkit.conv_padding(3)
    assert runkit.xavier_bound((3, 5)) == pytest.approx(np.sqrt(6 / 8))


def test_state_roundtrip_and_check(tmp_path):
    s = spec(model="dcgan")
    state = runkit.init_params(s, runkit.make_streams(0).init)
    runkit.save_state(tmp_path / "s.npz", state)
    back = runkit.load_state(tmp_path / "s.npz")
    assert set(back) == set(state) and all(np.array_equal(back[k], state[k]) for k in state)
    del back["D/fc/bias"]
    with pytest.raises(ValueError, match="D/fc/bias"):
        runkit.check_state(s, back)
    back["D/fc/bias"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="shape"):
        runkit.check_state(s, back)


# ------------------------------------------------------------------ data
def test_prepare_images():
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    b = runkit.prepare_images(imgs, spec())
    assert b.shape == (5, 784) and b.dtype == np.uint8 and np.array_equal(b[2], imgs[2].ravel())
    p = runkit.prepare_images(imgs, spec(model="dcgan", image_size=32))
    assert p.shape == (5, 32, 32, 1) and not p[:, :2].any() and not p[:, :, -2:].any()
    assert np.array_equal(p[:, 2:30, 2:30], imgs)
    r = runkit.prepare_images(imgs, spec(model="dcgan", image_size=64))
    assert r.shape == (5, 64, 64, 1) and r.dtype == np.uint8
    assert abs(float(r.mean()) - float(imgs.mean())) < 3
    with pytest.raises(ValueError):
        runkit.prepare_images(imgs.astype(np.float32), spec())


def celeba_spec(**kw):
    return spec(dataset="celeba", channels=3, **({"image_size": 64} if kw.get("model", "basic") == "basic" else {}),
                **kw)


def test_prepare_images_celeba():
    imgs = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    b = runkit.prepare_images(imgs, celeba_spec())
    assert b.shape == (3, 12288) and np.array_equal(b[1].reshape(64, 64, 3), imgs[1])  # NHWC flattened
    assert np.array_equal(runkit.prepare_images(imgs, celeba_spec(model="dcgan", image_size=64)), imgs)
    small = runkit.prepare_images(imgs, celeba_spec(model="dcgan", image_size=32))
    for img, got in zip(imgs, small):  # PIL bilinear per image, RGB
        assert np.array_equal(got, np.asarray(Image.fromarray(img).resize((32, 32), Image.BILINEAR)))
    with pytest.raises(ValueError, match=r"celeba images must be \[N, 64, 64, 3\]"):
        runkit.prepare_images(imgs[..., :1], celeba_spec())
    with pytest.raises(ValueError, match=r"mnist images must be \[N, 28, 28, 1\]"):
        runkit.prepare_images(imgs, spec())


def test_scaling_and_uint8_roundtrip():
    x = np.arange(256, dtype=np.uint8)
    for kind, (lo, hi) in (("sigmoid", (0, 1)), ("tanh", (-1, 1))):
        f = rdata.scale_np(x, kind)
        assert f.dtype == np.float32 and f[0] == lo and abs(f[-1] - hi) < 1e-6
        np.testing.assert_array_equal(runkit.to_uint8(f, kind), x)
    assert runkit.to_uint8(np.array([np.nan, 2.0, -3.0]), "tanh").tolist() == [0, 255, 0]
    assert runkit.output_kind(spec(model="dcgan")) == "tanh"
    assert runkit.output_kind(spec(arch={"hidden": 8, "output": "tanh"})) == "tanh"


def test_load_train_images(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, train_images=np.zeros((4, 28, 28, 1), np.uint8))
    assert runkit.load_train_images(p, spec()).shape == (4, 784)
    np.savez(p, images=np.zeros((4, 28, 28, 1), np.uint8))
    with pytest.raises(KeyError, match="train_images"):
        runkit.load_train_images(p, spec())


# ------------------------------------------------------------------ outputs and loop helpers
def test_writers(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1), dtype=np.uint8)
    runkit.write_samples(tmp_path / "samples.npz", imgs)
    with np.load(tmp_path / "samples.npz") as npz:
        assert npz.files == ["images"] and np.array_equal(npz["images"], imgs)
    with pytest.raises(ValueError):
        runkit.write_samples(tmp_path / "x.npz", imgs.astype(np.float32))

    with runkit.LogWriter(tmp_path / "log.csv") as log:
        log.row(10, 0.5, 1.5, 0.6, 0.4, 1.25)
        log.row(20, float("nan"), 1.0, 0.5, 0.5, 2.5)
    rows = list(csv.reader(open(tmp_path / "log.csv")))
    assert rows[0] == list(runkit.LOG_COLUMNS) and rows[1][0] == "10" and rows[2][1] == "nan"

    timing = {k: 1.0 for k in runkit.TIMING_KEYS}
    timing.update(device="cpu", framework="x", framework_version="1", peak_device_mb=None,
                  images_per_s=float("inf"), steps_done=7, extra="kept")
    runkit.write_timing(tmp_path / "timing.json", timing)
    t = json.loads((tmp_path / "timing.json").read_text())
    assert list(t)[: len(runkit.TIMING_KEYS)] == list(runkit.TIMING_KEYS)
    assert t["peak_device_mb"] is None and t["images_per_s"] is None and t["steps_done"] == 7 and t["extra"] == "kept"
    with pytest.raises(ValueError, match="setup_s"):
        runkit.write_timing(tmp_path / "t2.json", {k: v for k, v in timing.items() if k != "setup_s"})

    runkit.write_status(tmp_path / "status.json", "ok")
    assert json.loads((tmp_path / "status.json").read_text()) == {"status": "ok"}
    runkit.write_status(tmp_path / "status.json", "diverged", 12, "nan")
    assert json.loads((tmp_path / "status.json").read_text()) == {"status": "diverged", "step": 12, "reason": "nan"}
    with pytest.raises(ValueError):
        runkit.write_status(tmp_path / "status.json", "weird")

    runkit.write_grid(tmp_path / "grid.png", imgs)
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == (4 * 30 + 2, 4 * 30 + 2) and im.mode == "L"
    g = runkit.make_grid(imgs)
    assert np.array_equal(g[2:30, 2:30, 0], imgs[0, ..., 0]) and np.array_equal(g[2:30, 32:60, 0], imgs[1, ..., 0])
    with pytest.raises(ValueError):
        runkit.make_grid(imgs[:15])
    assert runkit.peak_host_mb() > 1


def test_check_finite():
    stats = np.zeros((5, 4))
    assert runkit.check_finite(stats) is None
    stats[3, 1] = np.inf
    stats[4, 0] = np.nan
    assert runkit.check_finite(stats) == 3
    stats[:, 2] = np.nan  # only the losses count
    stats[3:, :2] = 0
    assert runkit.check_finite(stats) is None


def test_chunk_ends():
    assert rloop.chunk_ends(spec(steps=200, log_every=50)) == [1, 50, 100, 150, 200]
    assert rloop.chunk_ends(spec(steps=7, log_every=50)) == [1, 7]
    assert rloop.chunk_ends(spec(steps=1, log_every=50)) == [1]
    assert rloop.chunk_ends(spec(steps=100, log_every=50, grid_every=30)) == [1, 30, 50, 60, 90, 100]


def test_thread_count(monkeypatch):
    monkeypatch.delenv("GANBENCH_THREADS", raising=False)
    assert runkit.thread_count(spec()) is None
    assert runkit.thread_count({**spec(), "threads": 3}) == 3
    monkeypatch.setenv("GANBENCH_THREADS", "2")
    assert runkit.thread_count({**spec(), "threads": 3}) == 2
    monkeypatch.setenv("GANBENCH_THREADS", "0")
    assert runkit.thread_count(spec()) is None
    monkeypatch.setenv("GANBENCH_THREADS", "many")
    with pytest.raises(ValueError):
        runkit.thread_count(spec())


def test_cli_args():
    a = runkit.parse_args(["--spec", "s.json", "--data", "d.npz", "--out", "o"])
    assert a.spec == Path("s.json") and a.out == Path("o")
    with pytest.raises(SystemExit):
        runkit.parse_args(["--spec", "s.json"])


def test_runkit_imports_no_framework():
    code = ("import sys, ganbench.runkit, ganbench.runkit.loop; "
            "bad = [m for m in ('torch', 'tensorflow', 'jax', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    env = {"PATH": "/usr/bin:/bin"}  # nothing inherited: the installed package alone
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


class _FakeEngine:
    """A numpy engine to exercise the driver without a framework."""
    framework, framework_version, device = "numpy", "0", "cpu"

    def __init__(self, spec, seed, nan_at=None):
        self.spec, self.calls, self.nan_at, self.it = spec, [], nan_at, 0

    def load_state(self, state): self.state = state
    def export_state(self): return self.state  # the weights never move: the log's gradient flow is the initial one
    def set_data(self, images): self.n = len(images)
    def synchronize(self): pass
    def peak_device_mb(self): return None
    def optimizer_state(self, native=False): return {}
    def load_optimizer_state(self, state): pass

    def train_chunk(self, idx, noise):
        self.calls.append(len(idx))
        out = []
        for _ in range(len(idx)):
            self.it += 1
            out.append([np.nan if self.it == self.nan_at else 1.0 / self.it, 2.0, 0.6, 0.4])
        return np.array(out)

    def fetch(self, h): return h
    def forward_d(self, x, training): return np.zeros(len(x))

    def generate(self, z):
        n = runkit.make_streams(0).eval.random((len(z), 784))
        return n.astype(np.float32)


@pytest.mark.parametrize("nan_at", [None, 13])
def test_run_training_with_a_fake_engine(tmp_path, nan_at):
    data = tmp_path / "d.npz"
    np.savez(data, train_images=np.zeros((64, 28, 28, 1), np.uint8))
    s = spec(steps=30, log_every=10, grid_every=20, batch_size=8, eval_samples=37, grid_size=16)
    engines = []

    def make(spec_, seed):
        engines.append(_FakeEngine(spec_, seed, nan_at))
        return engines[-1]

    assert runkit.run_training(s, data, tmp_path / "out", make) == 0
    out = tmp_path / "out"
    with np.load(out / "samples.npz") as npz:
        n = 37 if nan_at is None else 0  # a diverged run writes no samples
        assert npz["images"].shape == (n, 28, 28, 1) and npz["images"].dtype == np.uint8
    rows = list(csv.DictReader(open(out / "log.csv")))
    timing = json.loads((out / "timing.json").read_text())
    status = json.loads((out / "status.json").read_text())
    assert (out / "grid.png").is_file()
    if nan_at is None:
        assert engines[0].calls == [1, 9, 10, 10]
        assert [r["step"] for r in rows] == ["10", "20", "30"] and status == {"status": "ok"}
        assert (out / "grid_20.png").is_file()
        assert timing["steps_done"] == 30 and timing["timed_iterations"] == 29
        assert timing["images_per_s"] > 0 and timing["median_step_ms"] > 0 and timing["first_step_s"] > 0
    else:
        assert status["status"] == "diverged" and status["step"] == 13 and "d_loss" in status["reason"]
        assert [r["step"] for r in rows] == ["10", "13"] and rows[-1]["d_loss"] == "nan"
        assert timing["steps_done"] == 13  # the exact step, not the end of its chunk


# ------------------------------------------------------------------ new knobs: initialisers, BN off, padding
def test_init_knobs():
    s = spec(arch={"hidden": 64, "weight_init": "normal", "init_std": 0.05, "bias_init": 0.1})
    st = runkit.init_params(s, runkit.make_streams(0).init)
    assert all((v == np.float32(0.1)).all() for k, v in st.items() if k.endswith("bias"))
    w = st["D/fc1/kernel"]
    assert abs(w.std() - 0.05) < 0.002 and np.abs(w).max() > 3 * 0.05
    t = runkit.init_params(spec(arch={"hidden": 64, "weight_init": "truncated_normal", "init_std": 0.05}),
                           runkit.make_streams(0).init)
    w = t["D/fc1/kernel"]
    assert np.abs(w).max() <= 2 * 0.05 and np.abs(w).max() > 1.99 * 0.05
    # truncated at 2 std: std = 0.05 * 0.8796
    assert abs(w.std() - 0.05 * 0.8796) < 0.002
    assert all(not v.any() for k, v in t.items() if k.endswith("bias"))
    x = runkit.init_params(spec(arch={"hidden": 64}), runkit.make_streams(0).init)["D/fc1/kernel"]
    assert np.abs(x).max() <= runkit.xavier_bound((784, 64))
    # the default keeps the historical draws: xavier for basic, N(0, 0.02) for dcgan
    old = runkit.make_streams(0).init
    b = runkit.xavier_bound((100, 64))
    np.testing.assert_array_equal(runkit.init_params(spec(arch={"hidden": 64}), runkit.make_streams(0).init)
                                  ["G/fc1/kernel"], old.uniform(-b, b, (100, 64)).astype(np.float32))


def test_dcgan_without_batch_norm_has_biases_everywhere():
    s = spec(model="dcgan", arch={**DCGAN_ARCH, "batch_norm": False, "bias_init": 0.1})
    names = [p.name for p in runkit.param_specs(s)]
    assert not [n for n in names if "/bn" in n]
    n = runkit.dcgan_dims(s)["n"]
    expected = {"G/fc/bias", "D/conv0/bias", "D/fc/bias"} | {f"G/deconv{i}/bias" for i in range(1, n + 1)} \
        | {f"D/conv{i}/bias" for i in range(1, n)}
    assert {x for x in names if x.endswith("bias")} == expected
    st = runkit.init_params(s, runkit.make_streams(0).init)
    assert st["G/fc/bias"].shape == (16 * runkit.dcgan_dims(s)["c0"],) and (st["G/fc/bias"] == np.float32(0.1)).all()
    with_bn = spec(model="dcgan")
    assert runkit.count_params(with_bn) != runkit.count_params(s)


@pytest.mark.parametrize("k, padding, conv, crop", [(5, "symmetric", (2, 2), (2, 1)), (5, "same", (1, 2), (1, 2)),
                                                    (4, "symmetric", (1, 1), (1, 1)), (4, "same", (1, 1), (1, 1))])
def test_stride2_padding(k, padding, conv, crop):
    s = spec(model="dcgan", arch={**DCGAN_ARCH, "kernel_size": k, "padding": padding})
    assert runkit.conv_pads(s) == conv and runkit.stride2_padding(s) == crop
    # S -> S/2 for convs, S -> 2S for transposed convs
    S = 8
    assert (S + sum(conv) - k) // 2 + 1 == S // 2 and (S - 1) * 2 + k - sum(crop) == 2 * S


# ------------------------------------------------------------------ probes, curve samples, divergence
class _ProbeEngine(_FakeEngine):
    """Fake engine whose D(x) = mean pixel (as a logit) and whose G output is constant."""

    def forward_d(self, x, training):
        assert training is False
        self.probe_calls = getattr(self, "probe_calls", 0) + 1
        return np.asarray(x, np.float64).reshape(len(x), -1).mean(axis=1)

    def set_data(self, images):
        super().set_data(images)
        self.data_shape = images.shape

    def generate(self, z):  # the canonical layout of the spec's model: [N, S*S*C] or [N, S, S, C]
        s, c = self.spec["image_size"], self.spec["channels"]
        return np.full((len(z), s * s * c) if self.spec["model"] == "basic" else (len(z), s, s, c), 0.5, np.float32)


def _dataset(tmp_path, test=True):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 128, (64, 28, 28, 1), dtype=np.uint8)  # dark training images
    arrays = {"train_images": train}
    if test:
        arrays["test_images"] = rng.integers(128, 256, (40, 28, 28, 1), dtype=np.uint8)  # bright test images
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz", arrays


def test_probe_columns_and_curve_samples(tmp_path):
    data, arrays = _dataset(tmp_path)
    s = spec(steps=30, log_every=10, batch_size=8, eval_samples=20, grid_size=16, probe_size=16,
             curve_fractions=[0.25, 0.5], curve_samples=9)
    assert rloop.curve_steps(s) == [8, 15, 30] and 8 in rloop.chunk_ends(s) and 15 in rloop.chunk_ends(s)
    engines = []
    (tmp_path / "out" / "curve").mkdir(parents=True)  # a stale point of an earlier run of this folder
    np.savez(tmp_path / "out" / "curve" / "samples_12.npz", images=np.zeros((3, 28, 28, 1), np.uint8))
    runkit.run_training(s, data, tmp_path / "out", lambda sp, seed: engines.append(_ProbeEngine(sp, seed)) or engines[-1])
    rows = list(csv.DictReader(open(tmp_path / "out" / "log.csv")))
    assert list(rows[0]) == list(runkit.LOG_COLUMNS)
    assert list(runkit.LOG_COLUMNS) == ["step", "d_loss", "g_loss", "d_real", "d_fake", "d_probe_train",
                                        "d_probe_test", "elapsed_s", "g_grad_norm", "g_dead_frac"]
    # the gradient flow is measured on a fixed noise batch drawn from the probe stream after the images
    assert all(float(r["g_grad_norm"]) > 0 and 0 <= float(r["g_dead_frac"]) <= 1 for r in rows)
    # the probes are fixed batches from the `probe` stream: recompute them
    rng = runkit.make_streams(s["seed"]).probe
    tr = np.sort(rng.choice(64, 16, replace=False))
    te = np.sort(rng.choice(40, 16, replace=False))
    sig = lambda a: float(np.mean(1 / (1 + np.exp(-(a.reshape(len(a), -1) / 255.0).mean(1)))))
    for r in rows:
        assert float(r["d_probe_train"]) == pytest.approx(sig(arrays["train_images"][tr].astype(np.float64)), rel=1e-6)
        assert float(r["d_probe_test"]) == pytest.approx(sig(arrays["test_images"][te].astype(np.float64)), rel=1e-6)
    assert float(rows[0]["d_probe_test"]) > float(rows[0]["d_probe_train"])  # bright test vs dark train images
    assert engines[0].probe_calls == 2 * len(rows)
    curve = sorted(p.name for p in (tmp_path / "out" / "curve").iterdir())
    assert curve == ["samples_15.npz", "samples_30.npz", "samples_8.npz"]
    with np.load(tmp_path / "out" / "curve" / "samples_8.npz") as npz:
        assert npz["images"].shape == (9, 28, 28, 1) and npz["images"].dtype == np.uint8
    # adding the new streams did not change the old ones (they are appended)
    assert runkit.STREAM_NAMES[:6] == ("init", "batches", "noise", "eval", "grid", "framework")
    assert runkit.STREAM_NAMES[6:] == ("probe", "curve")


def test_probes_off_and_missing_test_images(tmp_path):
    data, _ = _dataset(tmp_path, test=False)
    s = spec(steps=10, log_every=5, batch_size=8, eval_samples=4, grid_size=4, probe_size=0)
    runkit.run_training(s, data, tmp_path / "a", lambda sp, seed: _ProbeEngine(sp, seed))
    rows = list(csv.DictReader(open(tmp_path / "a" / "log.csv")))
    assert all(r["d_probe_train"] == "nan" and r["d_probe_test"] == "nan" for r in rows)
    assert not (tmp_path / "a" / "curve").exists()
    runkit.run_training({**s, "probe_size": 8}, data, tmp_path / "b", lambda sp, seed: _ProbeEngine(sp, seed))
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert all(r["d_probe_train"] != "nan" and r["d_probe_test"] == "nan" for r in rows)


@pytest.mark.parametrize("nan_at, median", [(13, True), (1, False), (4, False), (21, True)])
def test_divergence_contract_with_a_fake_nan(tmp_path, monkeypatch, nan_at, median):
    """GANBENCH_TEST_NAN_AT_STEP marks step N non-finite: exact step everywhere, no samples,
    no curve after it, and a step time only from chunks that finished with finite losses."""
    data, _ = _dataset(tmp_path)
    monkeypatch.setenv("GANBENCH_TEST_NAN_AT_STEP", str(nan_at))
    s = spec(steps=30, log_every=10, batch_size=8, eval_samples=20, grid_size=16, probe_size=8,
             curve_fractions=[0.5])
    assert rloop.chunk_ends(s) == [1, 10, 15, 20, 30]
    from ganbench.runkit.faults import with_faults

    runkit.run_training(s, data, tmp_path / "out", with_faults(lambda sp, seed: _ProbeEngine(sp, seed)))
    out = tmp_path / "out"
    status = json.loads((out / "status.json").read_text())
    timing = json.loads((out / "timing.json").read_text())
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert status["status"] == "diverged" and status["step"] == nan_at and "d_loss" in status["reason"]
    assert timing["steps_done"] == nan_at
    assert rows[-1]["step"] == str(nan_at) and rows[-1]["d_loss"] == "nan" and rows[-1]["d_probe_train"] == "nan"
    assert [int(r["step"]) for r in rows[:-1]] == [x for x in (10, 20) if x < nan_at]
    with np.load(out / "samples.npz") as npz:
        assert npz["images"].shape == (0, 28, 28, 1) and npz["images"].dtype == np.uint8
    with Image.open(out / "grid.png") as im:
        assert not np.asarray(im).any()  # blank
    assert sorted(p.name for p in out.glob("curve/*.npz")) == (["samples_15.npz"] if nan_at > 15 else [])
    steady = {13: 1, 1: 0, 4: 0, 21: 3}[nan_at]  # finished chunks after the first step: (1,10] (10,15] (15,20]
    assert timing["timed_chunks"] == steady
    if median:
        assert timing["median_step_ms"] > 0 and timing["train_s"] > 0 and timing["images_per_s"] > 0
    else:
        assert timing["median_step_ms"] is None and timing["train_s"] is None and timing["images_per_s"] is None


@pytest.mark.parametrize("model, size", [("basic", 64), ("dcgan", 64), ("dcgan", 32)])
def test_celeba_run_layouts_probes_and_samples(tmp_path, model, size):
    """3 channels through the driver: the engine gets the prepared training set, the probes see held-out
    test images prepared the same way, samples and grids are [N, S, S, 3]."""
    rng = np.random.default_rng(1)
    train = rng.integers(0, 100, (40, 64, 64, 3), dtype=np.uint8)
    test = rng.integers(150, 256, (20, 64, 64, 3), dtype=np.uint8)
    np.savez(tmp_path / "celeba.npz", train_images=train, test_images=test)
    s = celeba_spec(model=model, steps=10, log_every=5, batch_size=8, eval_samples=6, grid_size=4, probe_size=8,
                    curve_fractions=[0.5], curve_samples=5,
                    **({"image_size": size} if model == "dcgan" else {}))
    engines = []
    runkit.run_training(s, tmp_path / "celeba.npz", tmp_path / "out",
                        lambda sp, seed: engines.append(_ProbeEngine(sp, seed)) or engines[-1])
    out = tmp_path / "out"
    assert engines[0].data_shape == ((40, 64 * 64 * 3) if model == "basic" else (40, size, size, 3))
    for name, n in (("samples.npz", 6), ("curve/samples_5.npz", 5), ("curve/samples_10.npz", 5)):
        with np.load(out / name) as npz:
            assert npz["images"].shape == (n, size, size, 3) and npz["images"].dtype == np.uint8
            assert (npz["images"] == (128 if model == "basic" else 191)).all()  # 0.5: sigmoid 128, tanh 191
    with Image.open(out / "grid.png") as im:
        assert im.mode == "RGB" and im.size == (2 * (size + 2) + 2,) * 2

    def prepared(imgs):  # independent of runkit: PIL per image for the 32 px DCGAN
        if model == "dcgan" and size == 32:
            return np.stack([np.asarray(Image.fromarray(i).resize((32, 32), Image.BILINEAR)) for i in imgs])
        return imgs

    kind = runkit.output_kind(s)
    mul, add = runkit.SCALE[kind]
    sig = lambda a: float(np.mean(1 / (1 + np.exp(-(prepared(a).astype(np.float32) * mul + add)
                                                  .reshape(len(a), -1).mean(1)))))
    probe = runkit.make_streams(s["seed"]).probe
    tr = np.sort(probe.choice(40, 8, replace=False))
    te = np.sort(probe.choice(20, 8, replace=False))
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["step"] for r in rows] == ["5", "10"]
    for r in rows:
        assert float(r["d_probe_train"]) == pytest.approx(sig(train[tr]), rel=1e-5)
        assert float(r["d_probe_test"]) == pytest.approx(sig(test[te]), rel=1e-5)


def test_batch_statistics_inference_runs_in_full_batches_of_batch_size():
    """bn_inference 'batch': every network call gets exactly batch_size rows (the last batch filled up with the
    first rows, their outputs dropped), so each sample is normalised with a batch like a training batch; running
    statistics: batches of EVAL_BATCH, the last one short."""
    from ganbench.runkit.loop import EVAL_BATCH, in_inference_batches

    calls = []

    def centred(x):  # a stand-in network whose output depends on its batch, as BN with batch statistics does
        calls.append(len(x))
        return x - x.mean(axis=0)

    x = np.arange(150, dtype=np.float64)[:, None]
    spec = runkit.validate_spec({**EXAMPLE, "model": "dcgan", "image_size": 32, "batch_size": 64,
                                 "arch": {"bn_inference": "batch"}})
    out = np.concatenate(in_inference_batches(centred, x, spec))
    assert calls == [64, 64, 64] and out.shape == (150, 1)
    np.testing.assert_array_equal(out[:64], x[:64] - x[:64].mean())
    last = np.concatenate([x[128:], x[:42]])  # 22 rows of x's end and x's first 42
    np.testing.assert_array_equal(out[128:], x[128:] - last.mean())
    calls.clear()
    running = runkit.validate_spec({**spec, "arch": {}})
    x = np.zeros((EVAL_BATCH + 3, 1))
    assert len(np.concatenate(in_inference_batches(centred, x, running))) == EVAL_BATCH + 3
    assert calls == [EVAL_BATCH, 3]


def test_adam_scalars_of_a_chunk_count_each_optimisers_own_steps():
    """chunk_bias_scalars: [k, d_steps + g_steps, 2] of (-lr / (1 - b1^t), sqrt(1 - b2^t)), D's updates
    first; D at its own step count, G at its own (a 1:2 schedule: G takes two per iteration)."""
    s = runkit.validate_spec({**EXAMPLE, "d_steps": 1, "g_steps": 2,
                              "optim": {"d": {"lr": 1e-3, "beta1": 0.5, "beta2": 0.99},
                                        "g": {"lr": 2e-4, "beta1": 0.9, "beta2": 0.999}}})
    sc = runkit.chunk_bias_scalars(s, 3, 6, 2)
    assert sc.shape == (2, 3, 2) and sc.dtype == np.float32
    expect_d = [(-1e-3 / (1 - 0.5**t), (1 - 0.99**t) ** 0.5) for t in (4, 5)]
    expect_g = [(-2e-4 / (1 - 0.9**t), (1 - 0.999**t) ** 0.5) for t in (7, 8, 9, 10)]
    np.testing.assert_allclose(sc[:, 0], expect_d, rtol=1e-7)
    np.testing.assert_allclose(sc[:, 1:].reshape(4, 2), expect_g, rtol=1e-7)


def test_device_resolution_is_one_policy_for_every_framework():
    assert [runkit.resolve_device(r, gpu, "X") for r in ("auto", "cpu", "cuda") for gpu in (False, True)
            if (r, gpu) != ("cuda", False)] == ["cpu", "cuda", "cpu", "cpu", "cuda"]
    with pytest.raises(RuntimeError, match="spec.device is 'cuda' but JAX sees no GPU"):
        runkit.resolve_device("cuda", False, "JAX")
