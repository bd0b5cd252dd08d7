"""Score one run's samples with the suite's framework-neutral evaluator.

    python -m ganbench.metrics.evaluate --run-dir results/<study>/runs/<run_id> \
        --data results/data/mnist.npz --cache-dir results/cache \
        --out results/<study>/runs/<run_id>/metrics.json [--seed 0] [--inception-weights PATH]

Reads ``spec.json`` and ``samples.npz`` (``images``: uint8 [N, H, W, C]) from the run
folder and scores the images against the dataset's test split, all in the feature space
of one *evaluator network* (:class:`Evaluator`):

* MNIST / Fashion-MNIST: the dataset's committed network (``mnist-net`` / ``fashion-mnist-net``,
  ganbench.metrics.mnist_net), on images mapped back to 28x28 (:func:`to_mnist_resolution`); FID, KID,
  Inception Score (its logits), precision/recall (k-NN manifolds, k=5), density/coverage,
  predicted-class histogram, classes covered, KL from uniform and feature diversity -- all
  from ``<network>:<sha8>``. FID / IS with the standard Inception-v3
  (``fid_inception``, ``is_inception_*``) are added when its weight file is present locally;
  otherwise they are null with the reason under ``skipped``.
* CelebA (64x64 RGB): Inception-v3 only (ganbench.metrics.inception_net: 2048-d pool features, 1008
  unbiased logits, ``inception-v3-tf:<sha8>``), at the run's resolution against the test
  split at that resolution; the same metric names, ``classes_covered`` / ``class_kl`` null
  ("CelebA has no classes"). Its weight file is required.

Nothing is ever downloaded. The JSON is written atomically. Any bad input ends the process
with status 2 and a one-line ``error: ...`` on stderr. See workflow/ganbench/metrics/README.md.

This module is the command line (:func:`main`, :func:`gpu_for_inception`); the work is done by

* ``images``: supported datasets and sizes, input checks, the views images are scored in;
* ``networks``: the evaluator networks (:class:`Evaluator`) and feeding images to them;
* ``prdc``: k-NN precision/recall/density/coverage, diversity, class statistics;
* ``reference``: the test split's reference statistics and their on-disk cache;
* ``scoring``: every metric of a set of samples (:func:`score_images`);
* ``runs``: a run folder's files in, metrics.json out (:func:`evaluate_run`).

Their public names are re-exported here, so ``ganbench.metrics.evaluate.<name>`` keeps working.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import torch

from .images import (
    CELEBA_IMAGE_SIZES,
    CELEBA_SIZE,
    DATASET_CHANNELS,
    INCEPTION_ONLY,
    MIN_SAMPLES,
    MNIST_FAMILY,
    SUPPORTED_DATASETS,
    SUPPORTED_IMAGE_SIZES,
    EvaluationError,
    array_sha256,
    as_scored,
    check_dataset,
    check_scored_images,
    check_test_images_belong_to,
    load_real_test_images,
    reference_view,
    resize_bilinear,
    to_mnist_resolution,
    to_rgb,
)
from .inception_weights import INCEPTION_ENV, INCEPTION_HUB_NAMES
from .mnist_net import EvaluatorWeightsError
from .networks import (
    BATCH,
    INCEPTION_BATCH,
    Evaluator,
    batches,
    dataset_evaluator,
    default_device,
    extract,
    inception_evaluator,
    resolve_inception_weights,
    to_nchw,
)
from .prdc import (
    COVERED_MIN_SHARE,
    DIVERSITY_N,
    KNN_K,
    PRDC_MAX,
    class_stats,
    knn_sq_radii,
    mean_pairwise_distance,
    prdc,
    subset_indices,
)
from .reference import (
    CACHE_VERSION,
    REFERENCE_KEYS,
    quiet_torchmetrics,
    reference_cache_name,
    reference_stats,
    write_atomically,
)
from .runs import (
    CURVE_METRICS,
    curve_files,
    evaluate_run,
    load_samples,
    load_spec,
    read_status,
    score_curve,
)
from .scoring import (
    CLASS_METRICS,
    INCEPTION_METRICS,
    IS_SPLITS,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    METRIC_NAMES,
    NO_CLASSES,
    device_settings,
    inception_metrics,
    inception_skipped,
    network_scores,
    score_images,
    seeded,
)

# The names of the modules above, re-exported: ganbench.metrics.evaluate.<name> predates the split.
__all__ = [
    "INCEPTION_ENV", "INCEPTION_HUB_NAMES", "CELEBA_IMAGE_SIZES", "CELEBA_SIZE", "DATASET_CHANNELS",
    "INCEPTION_ONLY", "MIN_SAMPLES", "MNIST_FAMILY", "SUPPORTED_DATASETS", "SUPPORTED_IMAGE_SIZES",
    "EvaluationError", "array_sha256", "as_scored", "check_dataset", "check_scored_images",
    "check_test_images_belong_to",
    "load_real_test_images", "reference_view", "resize_bilinear", "to_mnist_resolution", "to_rgb", "BATCH",
    "INCEPTION_BATCH", "Evaluator", "batches", "dataset_evaluator", "default_device", "extract",
    "inception_evaluator", "resolve_inception_weights", "to_nchw", "COVERED_MIN_SHARE", "DIVERSITY_N",
    "KNN_K", "PRDC_MAX", "class_stats", "knn_sq_radii", "mean_pairwise_distance", "prdc", "subset_indices",
    "CACHE_VERSION", "REFERENCE_KEYS", "quiet_torchmetrics", "reference_cache_name", "reference_stats",
    "write_atomically", "CLASS_METRICS", "INCEPTION_METRICS", "IS_SPLITS", "KID_SUBSET_SIZE", "KID_SUBSETS",
    "METRIC_NAMES", "NO_CLASSES", "device_settings", "inception_metrics", "inception_skipped",
    "network_scores", "score_images", "seeded", "CURVE_METRICS", "curve_files", "evaluate_run",
    "load_samples", "load_spec", "read_status", "score_curve", "gpu_for_inception", "main",
]


@contextlib.contextmanager
def gpu_for_inception(n_gpus: int):
    """Claim one of ``n_gpus`` GPUs (the training jobs' lock-file slots) for Inception-v3 and yield
    its torch device; with 0, hide every GPU and yield the CPU."""
    if n_gpus <= 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        yield torch.device("cpu")
        return
    from ganbench.gpu_slots import claim_gpu

    with claim_gpu(n_gpus) as gpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
        yield torch.device("cuda" if gpu and torch.cuda.is_available() else "cpu")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path, help="dataset npz (results/data/<dataset>.npz)")
    p.add_argument("--cache-dir", type=Path, default=None, help="reference-statistics cache folder")
    p.add_argument("--out", type=Path, default=None, help="metrics.json (default: RUN_DIR/metrics.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inception-weights", default=None,
                   help=f"Inception-v3 FID weight file (else ${INCEPTION_ENV} or the torch hub cache); "
                        "required for CelebA, optional extras for the MNIST family")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's, i.e. OMP_NUM_THREADS when set)")
    p.add_argument("--gpus", type=int, default=0,
                   help="GPUs the study may claim: Inception-v3 (when its weights are present; all of CelebA's "
                        "scoring) runs on a claimed GPU; the small dataset networks always run on the CPU")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or args.run_dir / "metrics.json"
    # a GPU is claimed only for Inception-v3, so only when its weights will be found
    use_gpu = args.gpus > 0 and resolve_inception_weights(args.inception_weights)[0] is not None
    with gpu_for_inception(args.gpus if use_gpu else 0) as inception_device:
        try:
            result = evaluate_run(args.run_dir, args.data, args.cache_dir, out, args.seed, args.inception_weights,
                                  device="cpu", inception_device=inception_device)
        except (EvaluationError, EvaluatorWeightsError) as exc:
            print(f"error: {exc}".replace("\n", " "), file=sys.stderr)  # one line for the job log
            return 2
    m = result["metrics"]
    if result["status"] in ("diverged", "failed"):
        print(f"{result['run_id']}: {result['status']} at step {result['diverged_step']}: no quality score -> {out}")
        return 0
    classes = "n/a" if m["classes_covered"] is None else m["classes_covered"]
    print(f"{result['run_id']}: fid {m['fid']:.3f} is {m['is_mean']:.3f} precision {m['precision']:.3f} "
          f"recall {m['recall']:.3f} classes {classes} ({result['seconds']:.1f}s, {result['extractor']['fid']}) "
          f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
