"""CelebA's evaluator: Inception-v3 (workflow/ganbench/metrics/inception_net.py) and the celeba scoring path of
workflow/ganbench/metrics/evaluate.py.

Everything downstream of the network is the production code; the network is the small
random-weight test stand-in (``write_test_network``) except in the torch-fidelity tests, which
build the real Inception-v3 architecture from a random state dict of the right shapes (no
download, no real weights here) and run it through the production loader.

Every bound holds with either CPU kernel family (tests/README.md: an AVX2 CPU's default kernels and
SSE kernels forced); the tightest, |FID| < 1e-3 of the test split against itself, measured -6.3e-5.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.metrics import evaluate as ev
from ganbench.metrics import inception_net as inet
from ganbench.metrics.mnist_net import file_sha256
from impl_runs import strip_timing

REPO = Path(__file__).resolve().parents[1]
N_REAL = 100  # the synthetic test split
N_FAKE = 100


pytestmark = pytest.mark.usefixtures("single_torch_thread")  # tests/conftest.py


def blobs(n: int, seed: int, size: int = 64) -> np.ndarray:
    """uint8 [n, size, size, 3]: smooth random RGB images (a coloured ellipse on a coloured
    background, varying position, size and colours, a little noise): face-like statistics."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        cy, cx, ry, rx = rng.uniform(0.4, 0.6, 2).tolist() + rng.uniform(0.2, 0.35, 2).tolist()
        inside = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1)[..., None]
        img = np.where(inside, rng.uniform(120, 250, 3), rng.uniform(0, 120, 3)) + rng.normal(0, 6, (size, size, 3))
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return inet.write_test_network(tmp_path_factory.mktemp("inception") / "test_net.pt", seed=0)


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return blobs(N_REAL, seed=1)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory, real) -> Path:
    path = tmp_path_factory.mktemp("data") / "celeba.npz"
    np.savez(path, train_images=blobs(N_REAL, seed=2), test_images=real)
    return path


@pytest.fixture(scope="module")
def scored(data_path, cache_dir, weights, real):
    """Named sample sets, each scored once (64 px, seed 0, the test network, on the CPU)."""
    sets = {"itself": real, "other": blobs(N_FAKE, seed=3),
            "noise": np.random.default_rng(4).integers(0, 256, (N_FAKE, 64, 64, 3), dtype=np.uint8),
            "one": np.repeat(real[:1], N_FAKE, axis=0)}
    memo = {}

    def get(name):
        if name not in memo:
            memo[name] = ev.score_images(sets[name], data_path, cache_dir, image_size=64, dataset="celeba",
                                         inception_weights=weights, device="cpu")
        return memo[name]

    return get


# --------------------------------------------------------------------------- the test network


def test_test_network_interface(tmp_path, weights):
    """Same bytes for the same seed wherever written; Inception's interface at any input size."""
    again = inet.write_test_network(tmp_path / "elsewhere" / "other_name.pt", seed=0)
    assert file_sha256(again) == file_sha256(weights)
    assert file_sha256(inet.write_test_network(tmp_path / "s1.pt", seed=1)) != file_sha256(weights)
    net, sha = inet.load_inception_net(weights)
    assert net.kind == "inception-v3-test" and sha == file_sha256(weights)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    for size in (32, 64, 299):
        x = torch.from_numpy(blobs(3, seed=5, size=size)).permute(0, 3, 1, 2).contiguous()
        feats, logits = net.forward_all(x)
        assert feats.shape == (3, 2048) and logits.shape == (3, 1008)
        assert feats.dtype == logits.dtype == torch.float32 and bool(torch.isfinite(logits).all())
        assert bool((feats >= 0).all())  # pool features after a ReLU, like Inception's
    with pytest.raises(ValueError, match=r"uint8 \[N, 3, H, W\]"):
        net.forward_all(x.float())
    with pytest.raises(ValueError, match=r"uint8 \[N, 3, H, W\]"):
        net.forward_all(x[:, :1])


def test_marker_and_broken_files(tmp_path, weights):
    state = torch.load(weights, weights_only=True)
    state.pop("fc.bias")
    torch.save(state, tmp_path / "broken_test.pt")
    with pytest.raises(inet.InceptionWeightsError, match="marked as a test network but does not fit"):
        inet.load_inception_net(tmp_path / "broken_test.pt")
    state = torch.load(weights, weights_only=True)
    state.pop(inet.TEST_MARKER)  # same weights without the marker: taken for the real Inception-v3
    torch.save(state, tmp_path / "unmarked.pt")
    with pytest.raises(inet.InceptionWeightsError, match="not the FID Inception-v3 state dict"):
        inet.load_inception_net(tmp_path / "unmarked.pt")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(inet.InceptionWeightsError, match="junk.pth is not the FID Inception-v3"):
        inet.load_inception_net(tmp_path / "junk.pth")
    with pytest.raises(inet.InceptionWeightsError, match="does not exist"):
        inet.load_inception_net(tmp_path / "absent.pth")


# --------------------------------------------------------------------------- celeba scoring


def test_celeba_real_vs_itself(scored, weights):
    r = scored("itself")
    m = r["metrics"]
    print(f"celeba test split vs itself: {json.dumps(m)}")
    assert abs(m["fid"]) < 1e-3
    assert m["kid_mean"] <= 0  # unbiased KID of a set against itself: its self-pairs make it slightly negative
    assert m["precision"] == m["recall"] == m["coverage"] == 1.0 and m["diversity"] == pytest.approx(1.0)
    assert math.isfinite(m["is_mean"]) and m["is_mean"] >= 1.0
    sha = file_sha256(weights)
    assert r["evaluator_sha256"] == sha
    assert r["extractor"] == dict.fromkeys(ev.METRIC_NAMES, f"inception-v3-test:{sha[:8]}")
    assert set(m) == set(ev.METRIC_NAMES)
    assert m["classes_covered"] is None and m["class_kl"] is None and r["class_hist"] is None
    assert r["skipped"]["classes_covered"] == r["skipped"]["class_kl"] == "CelebA has no classes"
    assert all(m[k] is None and "see fid" in r["skipped"][k] for k in ev.INCEPTION_METRICS)
    s = r["settings"]
    assert s["dataset"] == "celeba" and s["reference"] == "celeba test split (plain)" and s["image_size"] == 64
    assert s["device"] == s["inception_device"] == "cpu" and "gpu" not in s
    assert r["n_samples"] == N_FAKE and r["n_real"] == N_REAL and s["prdc_n"] == min(N_FAKE, N_REAL)


def test_celeba_noise_and_collapse_score_far_worse(scored):
    itself, other = scored("itself")["metrics"], scored("other")["metrics"]
    noise, one = scored("noise")["metrics"], scored("one")["metrics"]
    print(f"other images: {json.dumps(other)}\nnoise: {json.dumps(noise)}\none image: {json.dumps(one)}")
    assert other["fid"] > itself["fid"]  # other images of the same kind: a small-sample FID floor
    assert noise["fid"] > 5 * other["fid"] and noise["kid_mean"] > 5 * max(other["kid_mean"], other["kid_std"])
    assert noise["precision"] < 0.05 and noise["recall"] < 0.05 and noise["coverage"] < 0.05
    assert other["precision"] > 0.7 and other["recall"] > 0.7
    assert one["fid"] > 5 * other["fid"] and one["recall"] < 0.05 and one["diversity"] < 1e-6
    assert one["is_mean"] == pytest.approx(1.0, abs=1e-4) and other["is_mean"] > one["is_mean"]
    for m in (other, noise, one):
        assert all(math.isfinite(m[k]) for k in ("fid", "kid_mean", "kid_std", "is_mean", "is_std", "density"))


def test_celeba_cache_is_keyed_by_weights_data_and_view(scored, data_path, cache_dir, weights, real, tmp_path):
    a = scored("other")
    sha, data_sha = file_sha256(weights), ev.array_sha256(real)
    name = f"celeba_inception-v3-test-{sha[:16]}_test-plain-{data_sha[:16]}_v{ev.CACHE_VERSION}.npz"
    assert (cache_dir / name).is_file(), sorted(p.name for p in cache_dir.iterdir())
    images = blobs(N_FAKE, seed=3)
    # The cached reference is exactly what a fresh computation gives.
    fresh = ev.score_images(images, data_path, None, image_size=64, dataset="celeba", inception_weights=weights,
                            device="cpu")
    assert strip_timing(fresh) == strip_timing(a)
    # Other weights: their own cache entry, other numbers (never the first network's cache).
    other_weights = inet.write_test_network(tmp_path / "seed1.pt", seed=1)
    b = ev.score_images(images, data_path, cache_dir, image_size=64, dataset="celeba",
                        inception_weights=other_weights, device="cpu")
    sha1 = file_sha256(other_weights)
    assert b["extractor"]["fid"] == f"inception-v3-test:{sha1[:8]}" and b["metrics"]["fid"] != a["metrics"]["fid"]
    assert (cache_dir / name.replace(sha[:16], sha1[:16])).is_file()
    # Other test images: their own cache entry.
    other_data = tmp_path / "celeba2.npz"
    np.savez(other_data, train_images=real[:2], test_images=real[: N_REAL // 2])
    ev.score_images(images, other_data, cache_dir, image_size=64, dataset="celeba", inception_weights=weights,
                    device="cpu")
    half_sha = ev.array_sha256(real[: N_REAL // 2])
    assert (cache_dir / name.replace(data_sha[:16], half_sha[:16])).is_file()


def test_celeba_32px_runs_are_scored_against_the_resized_test_split(data_path, cache_dir, weights, real):
    from ganbench.runkit.data import resize_bilinear_uint8

    view, name = ev.reference_view(real, 32, "celeba")
    assert name == "bilinear32" and np.array_equal(view, resize_bilinear_uint8(real, 32))  # as training resizes
    assert ev.reference_view(real, 64, "celeba") == (real, "plain")
    r = ev.score_images(view, data_path, cache_dir, image_size=32, dataset="celeba", inception_weights=weights,
                        device="cpu")
    assert r["settings"]["reference"] == "celeba test split (bilinear32)"
    assert abs(r["metrics"]["fid"]) < 1e-3 and r["metrics"]["recall"] == 1.0
    assert any(p.name.startswith("celeba_") and "_test-bilinear32-" in p.name for p in cache_dir.iterdir())


def test_channels_match_the_dataset_geometry():
    from ganbench.runkit.spec import DATASET_GEOMETRY

    assert ev.DATASET_CHANNELS == {d: c for d, (_, c) in DATASET_GEOMETRY.items()}
    assert set(ev.SUPPORTED_DATASETS) == set(DATASET_GEOMETRY)


def test_celeba_bad_input_is_a_clear_error(data_path, cache_dir, weights, real, tmp_path, monkeypatch):
    def score(images, **kw):
        kw = {"image_size": 64, "dataset": "celeba", "inception_weights": weights, "device": "cpu", **kw}
        return ev.score_images(images, kw.pop("data", data_path), cache_dir, **kw)

    with pytest.raises(ev.EvaluationError, match=r"must have 3 channels \(celeba is RGB\)"):
        score(real[..., :1])
    with pytest.raises(ev.EvaluationError, match=r"must have 1 channel \(mnist is grayscale\)"):
        ev.score_images(np.zeros((30, 28, 28, 3), np.uint8), data_path, cache_dir)
    with pytest.raises(ev.EvaluationError, match="wants 64x64 celeba images"):
        score(real[:, :32, :32])
    with pytest.raises(ev.EvaluationError, match=r"image_size 48 is not supported for celeba"):
        ev.as_scored(blobs(30, 0, size=48), 48, "celeba")
    with pytest.raises(ev.EvaluationError, match="uint8"):
        score(real.astype(np.float32))
    gray_data = tmp_path / "gray.npz"
    np.savez(gray_data, test_images=np.zeros((50, 28, 28, 1), np.uint8))
    with pytest.raises(ev.EvaluationError, match=r"gray.npz test_images must have 3 channels"):
        score(real, data=gray_data)
    # No weight file: the error says Inception-v3 is needed and where the file goes.
    monkeypatch.delenv(ev.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ev.EvaluationError, match=r"celeba is scored with Inception-v3: no Inception-v3 weights.*"
                                                 r"pt_inception-2015-12-05-6726825d.pth in .*hub/checkpoints"):
        score(real, inception_weights=None)
    with pytest.raises(ev.EvaluationError, match="absent.pth do not exist"):
        score(real, inception_weights=tmp_path / "absent.pth")


def make_celeba_run(root: Path, images: np.ndarray, curve: dict[int, np.ndarray], channels: int = 3) -> Path:
    run = root / "pytorch-dcgan-s0"
    (run / "curve").mkdir(parents=True)
    spec = {"run_id": run.name, "dataset": "celeba", "model": "dcgan", "image_size": images.shape[1],
            "channels": channels, "eval_samples": len(images), "curve_samples": 40, "steps": 100}
    (run / "spec.json").write_text(json.dumps(spec))
    np.savez(run / "samples.npz", images=images)
    for step, imgs in curve.items():
        np.savez(run / "curve" / f"samples_{step}.npz", images=imgs)
    return run


def test_celeba_run_through_the_cli(tmp_path, data_path, cache_dir, weights, real, capsys):
    """metrics.json of a CelebA run: the final samples and the learning-curve points, all in Inception space."""
    noise = np.random.default_rng(6).integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    run = make_celeba_run(tmp_path, blobs(N_FAKE, seed=7), {50: noise, 100: blobs(40, seed=8)})
    out = tmp_path / "metrics.json"
    rc = ev.main(["--run-dir", str(run), "--data", str(data_path), "--cache-dir", str(cache_dir),
                  "--out", str(out), "--inception-weights", str(weights)])
    assert rc == 0, capsys.readouterr().err
    assert "classes n/a" in capsys.readouterr().out
    result = json.loads(out.read_text())
    sha8 = file_sha256(weights)[:8]
    assert result["status"] == "ok" and result["extractor"]["fid"] == f"inception-v3-test:{sha8}"
    assert result["metrics"]["classes_covered"] is None and result["metrics"]["fid"] > 0
    assert result["settings"]["device"] == result["settings"]["inception_device"] == "cpu"
    early, late = result["curve"]
    assert (early["step"], late["step"]) == (50, 100) and early["n"] == late["n"] == 40
    assert early["fid"] > 5 * late["fid"] and early["classes_covered"] is None
    # A spec that says 1 channel, or grayscale samples, for CelebA: one-line errors.
    (run / "spec.json").write_text(json.dumps({**json.loads((run / "spec.json").read_text()), "channels": 1}))
    assert ev.main(["--run-dir", str(run), "--data", str(data_path), "--inception-weights", str(weights),
                    "--out", str(tmp_path / "m2.json")]) == 2
    assert "channels = 1, but celeba has 3" in capsys.readouterr().err
    gray = make_celeba_run(tmp_path / "gray", blobs(40, seed=9)[..., :1], {})
    assert ev.main(["--run-dir", str(gray), "--data", str(data_path), "--inception-weights", str(weights),
                    "--out", str(tmp_path / "m3.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "samples.npz" in err and "3 channels" in err


def test_celeba_scoring_runs_on_the_claimed_device(monkeypatch, tmp_path, data_path, weights, real):
    """main() claims a GPU for Inception-v3 when the study has GPUs and the weights are present, and
    all of CelebA's scoring runs on the device it yields (here "cpu:0", standing in for the GPU:
    main() gives the small networks plain "cpu"); settings record it. The GPU claim itself is
    tests/test_metrics.py's."""
    claimed = []

    @contextlib.contextmanager
    def fake_claim(n_gpus):
        claimed.append(n_gpus)
        yield torch.device("cpu", 0)

    monkeypatch.setattr(ev, "gpu_for_inception", fake_claim)
    run = make_celeba_run(tmp_path, real[:30], {})
    out = tmp_path / "m.json"
    assert ev.main(["--run-dir", str(run), "--data", str(data_path), "--inception-weights", str(weights),
                    "--gpus", "2", "--out", str(out)]) == 0
    assert claimed == [2]
    settings = json.loads(out.read_text())["settings"]
    assert settings["device"] == settings["inception_device"] == "cpu:0"


@pytest.mark.pipeline
def test_evaluate_rule_passes_the_configured_weights(tmp_path, weights):
    """The config's inception_weights reaches every evaluate job as --inception-weights (quoted)."""
    from celeba_helpers import make_synthetic_celeba

    folder = make_synthetic_celeba(tmp_path / "celeba", n=10)
    configured = tmp_path / "inception weights.pt"
    shutil.copy(weights, configured)
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "--directory",
           str(tmp_path), "--cores", "1", "--configfile", str(REPO / ".test" / "config" / "celeba_smoke.yaml"), "--config",
           f"data={{celeba_dir: {folder}}}", f"inception_weights={configured}", "-n", "-p"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES="", GANBENCH_INCEPTION_WEIGHTS=""))
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = [line for line in proc.stdout.splitlines() if "python -m ganbench.metrics.evaluate" in line]
    assert commands and all(f"--inception-weights '{configured}'" in line for line in commands), commands[:1]


# --------------------------------------------------------------------------- torch-fidelity's Inception-v3


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory) -> Path:
    """A state dict of torch-fidelity's FeatureExtractorInceptionV3 with random weights: the architecture
    is instantiated with its weight loading stubbed out (its constructor would otherwise download)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    mp = pytest.MonkeyPatch()
    mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
    mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, strict=True: None)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        mp.undo()
    path = tmp_path_factory.mktemp("fid-inception") / "pt_inception-random.pth"
    torch.save(net.state_dict(), path)
    return path


def test_torch_fidelity_inception_through_the_production_loader(random_inception_weights):
    """The real architecture loaded by load_inception_net: one forward gives exactly the features
    torchmetrics' FID extractor (NoTrainInceptionV3, feature 2048, antialias=False) and the logits
    its IS extractor (logits_unbiased) compute from the same file."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    net, sha = inet.load_inception_net(random_inception_weights)
    assert net.kind == "inception-v3-tf" and sha == file_sha256(random_inception_weights)
    assert sum(p.numel() for p in net.parameters()) > 20_000_000  # Inception-v3 itself, not the stand-in
    x = torch.from_numpy(blobs(3, seed=10)).permute(0, 3, 1, 2).contiguous()
    feats, logits = net.forward_all(x)
    assert feats.shape == (3, 2048) and logits.shape == (3, 1008)
    assert bool(torch.isfinite(feats).all() and torch.isfinite(logits).all())
    path = str(random_inception_weights)
    fid_net = NoTrainInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=path,
                                 antialias=False)
    is_net = NoTrainInceptionV3("inception-v3-compat", ["logits_unbiased"], feature_extractor_weights_path=path,
                                antialias=False)
    with torch.no_grad():
        assert torch.equal(fid_net(x), feats)
        assert torch.equal(is_net(x), logits)
