"""The built-in models learn: a regression test for the CNN that could not fit its data.

The first H200 run (64 CNNs on Fashion-MNIST, 20 epochs) ended at train accuracy 0.72 and
test 0.72, and every attack at chance: the CNN pooled two 3x3 convolutions globally, so it saw
only 8x8-pixel patches and no layout. It now keeps the layout (two pooling stages, then a
linear head over the flattened map) and overfits small pools, as shadow models must.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miakit.errors import InvalidParameterError
from miakit.shadow.concurrent import train_concurrent
from miakit.shadow.data import ClassifierData, load_data, load_npz
from miakit.shadow.membership import balanced_membership
from miakit.shadow.models import model_factory
from miakit.shadow.train import TrainConfig, train_sequential


def _accuracy(factory, state, x, y) -> float:
    net = factory()
    net.load_state_dict(state)
    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(dim=1) == y).float().mean())


@pytest.mark.parametrize("trainer", [train_sequential, train_concurrent])
def test_cnn_fits_its_half_of_a_digits_pool(trainer):
    ds = load_data("digits")
    rng = np.random.default_rng(0)
    pool = rng.permutation(ds.n_samples)[:400]
    x, y = torch.as_tensor(ds.x[pool]), torch.as_tensor(ds.y[pool])
    membership = balanced_membership(len(pool), 2, seed=0)
    _, factory = model_factory("cnn", ds.input_shape, ds.n_classes)
    config = TrainConfig(epochs=8, batch_size=32, lr=2e-3, seed=0)
    got: dict[int, dict[str, torch.Tensor]] = {}
    trainer(factory, x, y, membership, config, models=[0, 1], device=torch.device("cpu"),
            on_trained=lambda m, s: got.__setitem__(m, s))  # fmt: skip
    for m in (0, 1):
        inn = torch.as_tensor(membership[:, m])
        train_acc = _accuracy(factory, got[m], x[inn], y[inn])
        test_acc = _accuracy(factory, got[m], x[~inn], y[~inn])
        assert train_acc > 0.9, (m, train_acc, test_acc)
        assert test_acc > 0.75, (m, train_acc, test_acc)


def test_uint8_npz_equals_its_float_twin(tmp_path):
    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, size=(20, 1, 5, 5), dtype=np.uint8)
    y = np.arange(20) % 3
    np.savez(tmp_path / "u8.npz", x=x8, y=y)
    np.savez(tmp_path / "f32.npz", x=x8.astype(np.float32) / np.float32(255), y=y)
    a, b = load_npz(tmp_path / "u8.npz"), load_npz(tmp_path / "f32.npz")
    assert a.x.dtype == b.x.dtype == np.float32
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.max() <= 1.0 and a.x.min() >= 0.0
    np.testing.assert_array_equal(a.y, b.y)
    c = ClassifierData.from_arrays(torch.as_tensor(x8), torch.as_tensor(y))
    np.testing.assert_array_equal(c.x, a.x)


def _no_conv(self, x):
    raise AssertionError("Conv2d.forward called with unfold_convs=True")


def test_unfolded_convolutions_train_the_same_cnn(monkeypatch):
    """The concurrent trainer's unfold + matmul convolutions are the same function."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand((48, 1, 8, 8), generator=g), torch.randint(0, 3, (48,), generator=g)
    membership = balanced_membership(len(x), 2, seed=0)
    _, factory = model_factory("cnn", (1, 8, 8), 3)
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-2, seed=1)
    runs = []
    for unfold in (False, True):
        if unfold:  # the unfolded run must not call the convolution modules at all
            monkeypatch.setattr(torch.nn.Conv2d, "forward", _no_conv)
        got: dict[int, dict[str, torch.Tensor]] = {}
        train_concurrent(factory, x, y, membership, config, models=[0, 1],
                         device=torch.device("cpu"), unfold_convs=unfold,
                         on_trained=lambda m, s, got=got: got.__setitem__(m, s))  # fmt: skip
        runs.append(got)
    for m in (0, 1):
        for k in runs[0][m]:
            torch.testing.assert_close(runs[1][m][k], runs[0][m][k], rtol=1e-4, atol=1e-5)
    with pytest.raises(InvalidParameterError, match="built-in cnn only"):
        _, mlp = model_factory("mlp", (1, 8, 8), 3)
        train_concurrent(mlp, x, y, membership, config, models=[0], device=torch.device("cpu"),
                         unfold_convs=True, on_trained=lambda m, s: None)  # fmt: skip
