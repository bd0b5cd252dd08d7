"""A synthetic stand-in for a user's aligned CelebA folder (no CelebA ships with the suite)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CELEBA_WIDTH, CELEBA_HEIGHT = 178, 218  # the aligned CelebA images (img_align_celeba)


def synthetic_face(rng: np.random.Generator, width: int = CELEBA_WIDTH, height: int = CELEBA_HEIGHT) -> np.ndarray:
    """uint8 [height, width, 3]: a smooth random 'face' (a skin-toned ellipse with eyes and a mouth on a
    graded background, a little noise), roughly where aligned CelebA puts a face."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    top, bottom = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    img = top + (bottom - top) * (yy / height)[..., None]  # background gradient
    cy, cx = height * rng.uniform(0.52, 0.6), width * rng.uniform(0.45, 0.55)
    ry, rx = height * rng.uniform(0.22, 0.3), width * rng.uniform(0.22, 0.3)

    def ellipse(y, x, a, b):
        return np.clip(1.5 - ((yy - y) / a) ** 2 - ((xx - x) / b) ** 2, 0, 0.5) * 2  # soft edge

    skin = np.array([rng.uniform(150, 250), rng.uniform(100, 190), rng.uniform(80, 160)])
    face = ellipse(cy, cx, ry, rx)[..., None]
    img = img * (1 - face) + skin * face
    dark = rng.uniform(10, 70, 3)
    for dx in (-0.4, 0.4):
        eye = ellipse(cy - 0.25 * ry, cx + dx * rx, 0.08 * ry, 0.16 * rx)[..., None]
        img = img * (1 - eye) + dark * eye
    mouth = ellipse(cy + 0.45 * ry, cx, 0.07 * ry, 0.35 * rx)[..., None]
    img = img * (1 - mouth) + np.array([170.0, 60.0, 70.0]) * mouth
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_synthetic_celeba(folder: str | Path, n: int = 60, seed: int = 0, partition: bool = False,
                          subfolder: bool = True, suffix: str = ".jpg") -> Path:
    """Write ``n`` 178x218 RGB images ``000001.jpg``... as aligned CelebA has them and return ``folder``
    (the value for ``data.celeba_dir``).

    ``subfolder``: images in ``folder/img_align_celeba/`` (CelebA's own layout), else in ``folder``.
    ``partition``: also ``folder/list_eval_partition.txt`` in CelebA's order: the first 80% of the
    names train (0), the next 10% validation (1), the rest test (2). ``suffix`` ``.png`` writes
    lossless files (pixel-exact checks)."""
    folder = Path(folder)
    images = folder / "img_align_celeba" if subfolder else folder
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"{i:06d}{suffix}" for i in range(1, n + 1)]
    options = {"quality": 90} if suffix in (".jpg", ".jpeg") else {}
    for name in names:
        Image.fromarray(synthetic_face(rng)).save(images / name, **options)
    if partition:
        n_train, n_val = int(0.8 * n), int(0.1 * n)
        lines = [f"{name} {0 if i < n_train else 1 if i < n_train + n_val else 2}" for i, name in enumerate(names)]
        (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return folder
