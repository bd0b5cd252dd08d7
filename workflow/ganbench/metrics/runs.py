"""One run folder in, its metrics.json out: reading and checking the run's spec.json, status.json,
samples.npz and learning-curve samples (curve/samples_<step>.npz), scoring them and writing the
result (:func:`evaluate_run`)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .images import DATASET_CHANNELS, EvaluationError, as_scored, check_dataset
from .reference import write_atomically
from .scoring import score_images

CURVE_METRICS = ("fid", "classes_covered", "precision", "recall", "coverage", "is_mean")


def load_spec(run_dir: str | Path) -> dict:
    """The run's spec.json, checked for what the evaluator needs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EvaluationError(f"run folder {run_dir} does not exist")
    spec_path = run_dir / "spec.json"
    if not spec_path.is_file():
        raise EvaluationError(f"{spec_path} is missing")
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{spec_path} is not valid JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise EvaluationError(f"{spec_path} must hold a JSON object")
    missing = [k for k in ("dataset", "image_size") if k not in spec]
    if missing:
        raise EvaluationError(f"{spec_path} lacks {', '.join(missing)}")
    check_dataset(spec["dataset"])
    channels = DATASET_CHANNELS[spec["dataset"]]
    if spec.get("channels", channels) != channels:
        raise EvaluationError(f"{spec_path}: channels = {spec['channels']}, but {spec['dataset']} has {channels}")
    return spec


def load_samples(samples_path: Path, spec: dict, expected: int | None) -> np.ndarray:
    """The samples of a samples npz as the evaluator takes them (:func:`as_scored`), validated;
    the error names the file and the fix."""
    rerun = "delete it and re-run the training job (snakemake re-runs it)"
    if not samples_path.is_file():
        raise EvaluationError(f"{samples_path} is missing; {rerun}")
    try:
        with np.load(samples_path, allow_pickle=False) as npz:
            if "images" not in npz.files:
                raise EvaluationError(
                    f"{samples_path} has no 'images' array (keys: {', '.join(npz.files)}); {rerun}")
            images = npz["images"]
    except EvaluationError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable/corrupt npz is bad input
        raise EvaluationError(f"cannot read {samples_path} ({type(exc).__name__}: {exc}); {rerun}") from exc
    try:
        images = as_scored(images, int(spec["image_size"]), spec.get("dataset", "mnist"))
    except EvaluationError as exc:
        raise EvaluationError(f"{samples_path}: {exc}; {rerun}") from exc
    if isinstance(expected, int) and expected != images.shape[0]:
        raise EvaluationError(f"{samples_path} holds {images.shape[0]} images but the spec asks for "
                              f"{expected}; {rerun}")
    return images


def read_status(run_dir: str | Path) -> dict:
    """status.json of the run ({"status": "ok"} when the folder has none, e.g. hand-made samples)."""
    path = Path(run_dir) / "status.json"
    if not path.is_file():
        return {"status": "ok"}
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path} is not valid JSON ({exc}); re-run the training job") from exc
    if not isinstance(status, dict) or status.get("status") not in ("ok", "diverged", "failed"):
        raise EvaluationError(f"{path}: status must be 'ok', 'diverged' or 'failed', got {status!r}")
    return status


def curve_files(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of the run's learning-curve samples, curve/samples_<step>.npz, by step."""
    found = []
    for path in (Path(run_dir) / "curve").glob("samples_*.npz"):
        try:
            found.append((int(path.stem.split("_", 1)[1]), path))
        except ValueError:
            continue
    return sorted(found)


def score_curve(run_dir, spec: dict, data_path, cache_dir, seed: int = 0, device=None,
                inception_weights=None, inception_device=None) -> list[dict]:
    """One point per curve sample file: step, fraction of training, n, and CURVE_METRICS.

    Every point of a run uses the same noise and sample count (spec curve_samples), so
    points compare like with like; they are not comparable with the 10k end-of-run scores.
    Points are scored with the run's evaluator network (CelebA: Inception-v3) like the final
    samples, without the MNIST family's optional Inception extras.
    """
    points = []
    for step, path in curve_files(run_dir):
        images = load_samples(path, spec, spec.get("curve_samples"))
        scored = score_images(images, data_path, cache_dir, seed=seed, image_size=int(spec["image_size"]),
                              dataset=spec["dataset"], inception=False, device=device,
                              inception_weights=inception_weights, inception_device=inception_device)
        point = {"step": step, "fraction": step / spec["steps"] if spec.get("steps") else None,
                 "n": int(images.shape[0])}
        point.update({name: scored["metrics"][name] for name in CURVE_METRICS})
        points.append(point)
    return points


def evaluate_run(run_dir, data_path, cache_dir, out, seed: int = 0, inception_weights=None,
                 device=None, inception_device=None) -> dict:
    """Score a finished run into metrics.json; a diverged run gets no quality numbers.

    A diverged run's samples would be images from NaN weights: they are never scored.
    metrics.json then says ``"status": "diverged"`` with the step, and carries only
    the learning-curve points written before the divergence.
    """
    t0 = time.time()
    spec = load_spec(run_dir)
    status = read_status(run_dir)
    curve = score_curve(run_dir, spec, data_path, cache_dir, seed, device=device,
                        inception_weights=inception_weights, inception_device=inception_device)
    if status["status"] in ("diverged", "failed"):  # failed: killed at its wall-time limit (launch.py)
        result = {"status": status["status"], "diverged_step": status.get("step"),
                  "reason": status.get("reason", ""), "metrics": {}, "extractor": {}}
    else:
        images = load_samples(Path(run_dir) / "samples.npz", spec, spec.get("eval_samples"))
        result = {"status": "ok", **score_images(
            images, data_path, cache_dir, seed=seed, image_size=int(spec["image_size"]),
            inception_weights=inception_weights, dataset=spec["dataset"], device=device,
            inception_device=inception_device)}
    # curve and run_id follow the scores; seconds becomes the whole run's (score_images' key, if any, stays put)
    result["curve"] = curve
    result["run_id"] = spec.get("run_id", Path(run_dir).name)
    result["seconds"] = round(time.time() - t0, 3)
    text = json.dumps(result, indent=2, allow_nan=True) + "\n"
    write_atomically(Path(out), lambda fh: fh.write(text.encode()))
    return result
