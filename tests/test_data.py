"""The dataset rule's builder: both sources, checksums, and clean failures."""
import gzip
import struct

import numpy as np
import pytest

from ganbench import data


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
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    monkeypatch.setattr(data, "_dpkg_listed_dir", lambda package, stem: None)
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
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "absent")
    assert data.debian_fashion_dir() == FASHION_DIR
