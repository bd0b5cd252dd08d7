"""The dataset rule's builder: every source, checksums (MNIST family), CelebA's preprocessing and
split, and clean failures."""
import gzip
import json
import struct

import numpy as np
import pytest

from celeba_helpers import make_synthetic_celeba
from ganbench import data, data_mnist


@pytest.fixture(scope="module")
def mnist():
    arrays, source = data.load_mnist()
    return arrays


def write_idx(path, array, compress):
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        path.write_bytes(payload)


def test_shipped_copy_matches_published_hashes(mnist):
    assert mnist["train_images"].shape == (60000, 28, 28)
    assert mnist["test_images"].shape == (10000, 28, 28)
    for key, digest in data.MNIST_SHA256.items():
        assert data.sha256_of(mnist[key]) == digest
    assert np.bincount(mnist["test_labels"]).tolist()[:3] == [980, 1135, 1032]


def test_build_writes_nhwc_uint8(tmp_path):
    out = tmp_path / "d" / "mnist.npz"
    data.build_dataset("mnist", out)
    loaded = data.load_dataset(out)
    assert loaded["train_images"].shape == (60000, 28, 28, 1)
    assert loaded["train_images"].dtype == np.uint8
    assert loaded["test_labels"].shape == (10000,)
    assert data.sha256_of(loaded["test_images"][..., 0]) == data.MNIST_SHA256["test_images"]


@pytest.mark.parametrize("compress", [False, True])
def test_idx_directory_source(tmp_path, mnist, compress):
    for key, stem in data.IDX_NAMES.items():
        write_idx(tmp_path / stem, mnist[key], compress)
    out = tmp_path / "mnist.npz"
    source = data.build_dataset("mnist", out, idx_dir=str(tmp_path))
    assert "IDX files" in source
    assert data.sha256_of(data.load_dataset(out)["train_labels"]) == data.MNIST_SHA256["train_labels"]


def test_checksum_mismatch_is_an_error_and_leaves_no_file(tmp_path, mnist):
    for key, stem in data.IDX_NAMES.items():
        array = mnist[key].copy()
        if key == "test_labels":
            array[0] = (array[0] + 1) % 10
        write_idx(tmp_path / stem, array, False)
    out = tmp_path / "out" / "mnist.npz"
    with pytest.raises(data.DatasetError, match="test_labels.*do not match|does not match.*test_labels"):
        data.build_dataset("mnist", out, idx_dir=str(tmp_path))
    assert not out.exists()
    leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert leftovers == []


def test_missing_idx_file_is_named(tmp_path, mnist):
    write_idx(tmp_path / data.IDX_NAMES["train_images"], mnist["train_images"][:10], False)
    with pytest.raises(data.DatasetError, match="lacks train-labels-idx1-ubyte"):
        data.build_dataset("mnist", tmp_path / "x.npz", idx_dir=str(tmp_path))


def test_missing_directory_and_unknown_dataset(tmp_path):
    with pytest.raises(data.DatasetError, match="is not a directory"):
        data.build_dataset("mnist", tmp_path / "x.npz", idx_dir=str(tmp_path / "nope"))
    with pytest.raises(data.DatasetError, match="supported: mnist"):
        data.build_dataset("cifar10", tmp_path / "x.npz")


def test_truncated_idx_file(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 100) + b"\x00" * 10)
    with pytest.raises(data.DatasetError, match="truncated"):
        data.read_idx(path)


@pytest.mark.parametrize("cut", [10, 200])  # inside the gzip header, inside the deflate stream
def test_truncated_gz_idx_file_is_named(tmp_path, cut):
    images = np.arange(50 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(50, 28, 28)
    write_idx(tmp_path / "train-images-idx3-ubyte", images, True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(data.DatasetError) as err:
        data.read_idx(path)
    msg = str(err.value)
    assert str(path) in msg and "truncated or corrupt" in msg, msg
    assert "replace it with a complete copy" in msg, msg


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    rc = data.main(["--idx-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "x.npz")])
    assert rc == 1
    assert "error: data.mnist_idx_dir" in capsys.readouterr().err


# --------------------------------------------------------------------------- Fashion-MNIST

FASHION_DIR = data.DEBIAN_FASHION_DIR
needs_debian_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (`./ganbench test` installs it as root)",
)


@pytest.fixture(scope="module")
def fashion():
    arrays, source = data.load_fashion_mnist()
    assert "dataset-fashion-mnist" in source
    return arrays


@needs_debian_fashion
def test_fashion_debian_copy_matches_recorded_hashes(fashion):
    assert fashion["train_images"].shape == (60000, 28, 28)
    assert fashion["test_images"].shape == (10000, 28, 28)
    for key, digest in data.FASHION_MNIST_SHA256.items():
        assert data.sha256_of(fashion[key]) == digest
    # Fashion-MNIST is balanced: 6000 / 1000 of each of the 10 classes.
    assert np.bincount(fashion["train_labels"]).tolist() == [6000] * 10
    assert np.bincount(fashion["test_labels"]).tolist() == [1000] * 10
    # ... and is not MNIST.
    assert set(data.FASHION_MNIST_SHA256.values()).isdisjoint(data.MNIST_SHA256.values())


@needs_debian_fashion
def test_fashion_build_writes_nhwc_uint8(tmp_path):
    out = tmp_path / "d" / "fashion_mnist.npz"
    source = data.build_dataset("fashion_mnist", out)
    assert str(FASHION_DIR) in source
    loaded = data.load_dataset(out)
    assert sorted(loaded) == sorted(data.SPLITS)
    assert loaded["train_images"].shape == (60000, 28, 28, 1) and loaded["train_images"].dtype == np.uint8
    assert loaded["test_labels"].shape == (10000,) and loaded["test_labels"].dtype == np.uint8
    assert data.sha256_of(loaded["test_images"][..., 0]) == data.FASHION_MNIST_SHA256["test_images"]
    assert [p.name for p in out.parent.iterdir()] == ["fashion_mnist.npz"]  # no temp file left


@needs_debian_fashion
def test_fashion_idx_dir_source_and_a_corrupted_file_is_named(tmp_path, fashion):
    good = tmp_path / "good"
    good.mkdir()
    for key, stem in data.IDX_NAMES.items():
        write_idx(good / stem, fashion[key], compress=True)
    out = tmp_path / "out" / "fashion_mnist.npz"
    assert "IDX files" in data.build_dataset("fashion_mnist", out, idx_dir=str(good))
    assert data.sha256_of(data.load_dataset(out)["train_labels"]) == data.FASHION_MNIST_SHA256["train_labels"]

    bad = tmp_path / "bad"
    bad.mkdir()
    for key, stem in data.IDX_NAMES.items():
        array = fashion[key].copy()
        if key == "train_images":
            array[123, 14, 14] ^= 0x01  # one bit of one pixel
        write_idx(bad / stem, array, compress=False)
    out2 = tmp_path / "out2" / "fashion_mnist.npz"
    with pytest.raises(data.DatasetError) as err:
        data.build_dataset("fashion_mnist", out2, idx_dir=str(bad))
    msg = str(err.value)
    assert "Fashion-MNIST" in msg and "train_images" in msg
    assert str(bad / "train-images-idx3-ubyte") in msg  # names the corrupted file
    assert "test_images" not in msg and "train_labels" not in msg  # ... and only that one
    assert not out2.exists() and not out2.parent.exists()


def test_mnist_files_are_not_fashion_mnist(tmp_path, mnist):
    for key, stem in data.IDX_NAMES.items():
        write_idx(tmp_path / stem, mnist[key][:100] if key.startswith("train") else mnist[key], False)
    with pytest.raises(data.DatasetError, match="Fashion-MNIST .* does not match the canonical checksums"):
        data.build_dataset("fashion_mnist", tmp_path / "x.npz", idx_dir=str(tmp_path))


def test_fashion_missing_source_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data_mnist, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    monkeypatch.setattr(data_mnist, "_dpkg_listed_dir", lambda package, stem: None)
    with pytest.raises(data.DatasetError) as err:
        data.build_dataset("fashion_mnist", tmp_path / "x.npz")
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    assert "data.fashion_mnist_idx_dir" in str(err.value)
    assert not (tmp_path / "x.npz").exists()
    rc = data.main(["--dataset", "fashion_mnist", "--out", str(tmp_path / "x.npz")])
    assert rc == 1 and "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    # A configured folder that is not there / lacks a file is named with its config key.
    with pytest.raises(data.DatasetError, match="data.fashion_mnist_idx_dir = .* is not a directory"):
        data.build_dataset("fashion_mnist", tmp_path / "x.npz", idx_dir=str(tmp_path / "nope"))
    (tmp_path / "partial").mkdir()
    write_idx(tmp_path / "partial" / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8), True)
    with pytest.raises(data.DatasetError, match="fashion_mnist_idx_dir .* lacks train-labels-idx1-ubyte"):
        data.build_dataset("fashion_mnist", tmp_path / "x.npz", idx_dir=str(tmp_path / "partial"))


@needs_debian_fashion
def test_fashion_debian_folder_found_through_dpkg(tmp_path, monkeypatch):
    """When the files are not at the usual path, `dpkg -L dataset-fashion-mnist` says where."""
    import shutil

    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg")
    monkeypatch.setattr(data_mnist, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    assert data.debian_fashion_dir() == FASHION_DIR


# --------------------------------------------------------------------------- CelebA (a user's folder)
def triangle_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of an antialiased bilinear (triangle) filter: support widened by the
    shrink factor, centred at (o + 0.5) * n_in / n_out, normalised (what PIL documents for BILINEAR)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    x = np.arange(n_in) + 0.5
    w = np.clip(1 - np.abs(x[None, :] - (np.arange(n_out)[:, None] + 0.5) * scale) / support, 0, None)
    return w / w.sum(axis=1, keepdims=True)


def reference_crop_resize(img: np.ndarray, crop: int = 108, size: int = 64) -> np.ndarray:
    """Independent numpy version of the CelebA preprocessing: carpedm20's centre crop, then the
    triangle filter along rows, rounded to uint8, then along columns (PIL's two passes)."""
    h, w = img.shape[:2]
    top, left = int(round((h - crop) / 2)), int(round((w - crop) / 2))
    c = img[top:top + crop, left:left + crop].astype(np.float64)
    k = triangle_weights(crop, size)
    rows = np.clip(np.rint(np.einsum("ox,yxc->yoc", k, c)), 0, 255)
    return np.clip(np.rint(np.einsum("oy,yxc->oxc", k, rows)), 0, 255).astype(np.uint8)


def first_name(npz_path, key):
    """The source file of a split's first image, read back from the record beside the npz."""
    return json.loads(data.record_path(npz_path).read_text())["first_file"][key]


def test_celeba_crop_and_resize_match_an_independent_computation(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)  # noise: a 1-pixel crop shift changes everything
    Image.fromarray(img).save(tmp_path / "000001.png")
    got = data.celeba_image(tmp_path / "000001.png")
    assert got.shape == (64, 64, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - reference_crop_resize(img))
    assert diff.max() <= 1 and diff.mean() < 0.01  # PIL's fixed-point weights: off by one on ~0.4% of values
    shifted = np.abs(got.astype(int) - reference_crop_resize(np.roll(img, 1, axis=1)))
    assert shifted.mean() > 5  # the check can tell a crop one pixel off
    assert data.celeba_crop_box(178, 218) == (35, 55, 143, 163)
    # a grayscale file comes out RGB
    Image.fromarray(img[..., 0]).save(tmp_path / "gray.png")
    gray = data.celeba_image(tmp_path / "gray.png")
    assert gray.shape == (64, 64, 3) and (gray[..., 0] == gray[..., 2]).all()


def test_celeba_build_without_partition_file(tmp_path):
    folder = make_synthetic_celeba(tmp_path / "celeba", n=30, seed=1)
    out = tmp_path / "data" / "celeba.npz"
    source = data.build_dataset("celeba", out, celeba_dir=str(folder))
    assert "27 train, 3 test" in source and "index % 10 == 9" in source
    arrays = data.load_dataset(out)
    assert sorted(arrays) == ["test_images", "train_images"]  # no label arrays
    assert arrays["train_images"].shape == (27, 64, 64, 3) and arrays["test_images"].shape == (3, 64, 64, 3)
    assert arrays["train_images"].dtype == np.uint8
    files = sorted((folder / "img_align_celeba").iterdir())
    expect_test = [data.celeba_image(files[i]) for i in (9, 19, 29)]  # 000010, 000020, 000030
    expect_train = [data.celeba_image(f) for i, f in enumerate(files) if i % 10 != 9]
    assert np.array_equal(arrays["test_images"], np.stack(expect_test))
    assert np.array_equal(arrays["train_images"], np.stack(expect_train))
    record = json.loads((tmp_path / "data" / "celeba.json").read_text())
    assert record["sha256"] == {k: data.sha256_of(v) for k, v in arrays.items()}
    assert record["counts"] == {"train_images": 27, "test_images": 3} and record["files_found"] == 30
    assert record["source"] == str((folder / "img_align_celeba").resolve()) and record["partition_file"] is None
    assert record["crop"] == 108 and record["size"] == 64 and "bilinear" in record["preprocessing"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["celeba.json", "celeba.npz"]  # no temp files


def test_celeba_partition_file_is_honoured(tmp_path):
    folder = make_synthetic_celeba(tmp_path / "celeba", n=40, seed=2, partition=True)  # 32 train, 4 val, 4 test
    out = tmp_path / "celeba.npz"
    data.build_dataset("celeba", out, celeba_dir=str(folder))
    arrays = data.load_dataset(out)
    files = sorted((folder / "img_align_celeba").iterdir())
    assert np.array_equal(arrays["train_images"], np.stack([data.celeba_image(f) for f in files[:32]]))
    assert np.array_equal(arrays["test_images"], np.stack([data.celeba_image(f) for f in files[36:]]))
    assert first_name(out, "test_images") == "000037.jpg"


def test_celeba_image_folder_itself_and_max_images(tmp_path):
    # images straight in the folder (no img_align_celeba/), first N by name, split by index
    folder = make_synthetic_celeba(tmp_path / "flat", n=30, seed=3, subfolder=False, suffix=".png")
    out = tmp_path / "a.npz"
    data.build_dataset("celeba", out, celeba_dir=str(folder), max_images=25)
    arrays = data.load_dataset(out)
    assert len(arrays["train_images"]) == 23 and len(arrays["test_images"]) == 2  # 000010, 000020 are test
    assert np.array_equal(arrays["test_images"][1], data.celeba_image(folder / "000020.png"))
    # with a partition file: the first N - N//10 training and N//10 test images, each in name order
    folder = make_synthetic_celeba(tmp_path / "part", n=40, seed=3, partition=True, subfolder=False)
    out = tmp_path / "b.npz"
    data.build_dataset("celeba", out, celeba_dir=str(folder), max_images=20)
    arrays = data.load_dataset(out)
    assert len(arrays["train_images"]) == 18 and len(arrays["test_images"]) == 2
    assert first_name(out, "train_images") == "000001.jpg" and first_name(out, "test_images") == "000037.jpg"


def celeba_error(tmp_path, folder, max_images=None):
    out = tmp_path / "out" / "celeba.npz"
    with pytest.raises(data.DatasetError) as err:
        data.build_dataset("celeba", out, celeba_dir=str(folder), max_images=max_images)
    assert not out.exists() and not data.record_path(out).exists()  # nothing half-written
    return str(err.value)


def test_celeba_errors_name_the_problem_and_the_fix(tmp_path):
    msg = celeba_error(tmp_path, tmp_path / "nowhere")
    assert "data.celeba_dir" in msg and "is not a directory" in msg and "img_align_celeba" in msg
    (tmp_path / "empty" / "img_align_celeba").mkdir(parents=True)
    (tmp_path / "empty" / "img_align_celeba" / "notes.txt").write_text("no images here")
    msg = celeba_error(tmp_path, tmp_path / "empty")
    assert "no images" in msg and str(tmp_path / "empty") in msg and "data.celeba_dir" in msg
    few = make_synthetic_celeba(tmp_path / "few", n=5)
    msg = celeba_error(tmp_path, few)
    assert "only 5 images" in msg and "at least 10" in msg
    msg = celeba_error(tmp_path, make_synthetic_celeba(tmp_path / "ok", n=12), max_images=5)
    assert "data.celeba_max_images = 5 is too few" in msg
    with pytest.raises(data.DatasetError, match="needs a folder of aligned CelebA images.*data.celeba_dir"):
        data.build_dataset("celeba", tmp_path / "x.npz")


def test_celeba_unreadable_or_small_image_is_named(tmp_path):
    folder = make_synthetic_celeba(tmp_path / "broken", n=12)
    bad = folder / "img_align_celeba" / "000007.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    msg = celeba_error(tmp_path, folder)
    assert f"cannot read image {bad}" in msg and "replace it" in msg
    from PIL import Image
    Image.new("RGB", (100, 120)).save(bad)
    msg = celeba_error(tmp_path, folder)
    assert str(bad) in msg and "100x120" in msg and "smaller than the 108x108" in msg


def test_celeba_inconsistent_partition_file_is_named(tmp_path):
    folder = make_synthetic_celeba(tmp_path / "c", n=20, partition=True)
    part = folder / "list_eval_partition.txt"
    lines = part.read_text().splitlines()
    part.write_text("\n".join(lines[:-1]) + "\n")  # 000020.jpg not listed
    msg = celeba_error(tmp_path, folder)
    assert f"partition file {part} is inconsistent" in msg and "000020.jpg" in msg and "1 of the 20" in msg
    part.write_text("\n".join(lines[:3] + ["000004.jpg 7"] + lines[4:]) + "\n")
    msg = celeba_error(tmp_path, folder)
    assert "line 4" in msg and "'000004.jpg 7'" in msg and "delete it" in msg
    part.write_text("\n".join(f"{line.split()[0]} 0" for line in lines) + "\n")  # no test partition
    msg = celeba_error(tmp_path, folder)
    assert "none of the 20 images" in msg and "test (2) partition" in msg
    part.write_text("\n".join(lines + [lines[0]]) + "\n")
    assert "listed twice" in celeba_error(tmp_path, folder)
    # Kaggle's csv form is read the same way
    part.unlink()
    (folder / "list_eval_partition.csv").write_text(
        "image_id,partition\n" + "\n".join(line.replace(" ", ",") for line in lines) + "\n")
    out = tmp_path / "k.npz"
    data.build_dataset("celeba", out, celeba_dir=str(folder))
    assert len(data.load_dataset(out)["test_images"]) == 2


def test_celeba_cli(tmp_path, capsys):
    folder = make_synthetic_celeba(tmp_path / "c", n=20)
    out = tmp_path / "celeba.npz"
    assert data.main(["--dataset", "celeba", "--celeba-dir", str(folder), "--max-images", "10",
                      "--out", str(out)]) == 0
    assert "celeba.json" in capsys.readouterr().out
    assert data.load_dataset(out)["train_images"].shape == (9, 64, 64, 3)
    assert data.main(["--dataset", "celeba", "--celeba-dir", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert "error: data.celeba_dir" in capsys.readouterr().err


def test_dataset_geometry_and_rule_args():
    assert data.DATASET_GEOMETRY == {"mnist": (28, 1), "fashion_mnist": (28, 1), "celeba": (64, 3)}
    celeba = {"dataset": "celeba", "data": {"celeba_dir": "/my data/celeba", "celeba_max_images": 500}}
    assert data.rule_args(celeba) == "--celeba-dir '/my data/celeba' --max-images 500"
    assert data.rule_args({"dataset": "mnist", "data": {"mnist_idx_dir": None}}) == ""
    assert data.rule_args({"dataset": "fashion_mnist", "data": {"fashion_mnist_idx_dir": "/x"}}) == "--idx-dir /x"
