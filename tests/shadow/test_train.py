"""Training: the balanced membership matrix, concurrent == sequential, seeds, models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from miakit.errors import InvalidParameterError
from miakit.shadow.concurrent import train_concurrent
from miakit.shadow.membership import balanced_membership, check_membership
from miakit.shadow.models import model_factory
from miakit.shadow.train import TrainConfig, train_sequential


@pytest.mark.parametrize(("n", "k"), [(2, 2), (10, 2), (100, 4), (1796, 16), (3000, 64)])
def test_membership_is_balanced_both_ways(n, k):
    m = balanced_membership(n, k, seed=n + k)
    assert m.shape == (n, k) and m.dtype == bool
    np.testing.assert_array_equal(m.sum(axis=1), k // 2)  # every example IN for half
    np.testing.assert_array_equal(m.sum(axis=0), n // 2)  # every model on half the pool
    check_membership(m)


def test_membership_is_seeded_and_random():
    a, b = balanced_membership(200, 8, seed=0), balanced_membership(200, 8, seed=0)
    np.testing.assert_array_equal(a, b)
    c = balanced_membership(200, 8, seed=1)
    assert not np.array_equal(a, c)
    # models are not copies or complements of each other
    agree = (a[:, :, None] == a[:, None, :]).mean(axis=0)[np.triu_indices(8, 1)]
    assert agree.min() > 0.3 and agree.max() < 0.7


@pytest.mark.parametrize(("n", "k", "match"), [(10, 3, "n_models must be even"),
                                               (11, 4, "pool size must be even")])  # fmt: skip
def test_membership_rejects_odd_sizes(n, k, match):
    with pytest.raises(InvalidParameterError, match=match):
        balanced_membership(n, k, seed=0)


def test_check_membership_names_the_unbalanced_entry():
    m = balanced_membership(10, 4, seed=0)
    m[3] = True
    with pytest.raises(InvalidParameterError, match="example 3 is IN for 4 of 4"):
        check_membership(m)


def _pool(n: int = 96, shape=(1, 8, 8), classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *shape), generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def _train(trainer, factory, x, y, membership, config, models, **kw):
    got: dict[int, dict[str, torch.Tensor]] = {}
    trainer(factory, x, y, membership, config, models=models,
            on_trained=lambda m, s: got.__setitem__(m, s), device=torch.device("cpu"),
            **kw)  # fmt: skip
    return got


@pytest.mark.parametrize(("model", "optimizer"), [("mlp", "adam"), ("cnn", "adam"),
                                                  ("cnn", "sgd")])  # fmt: skip
def test_concurrent_equals_sequential(model, optimizer):
    """Same seed, same models: weights and BatchNorm running statistics agree."""
    x, y = _pool()
    membership = balanced_membership(len(x), 4, seed=0)
    _, factory = model_factory(model, (1, 8, 8), 3)
    config = TrainConfig(epochs=3, batch_size=10, lr=1e-2, optimizer=optimizer, seed=5)
    seq = _train(train_sequential, factory, x, y, membership, config, range(4))
    con = _train(
        train_concurrent, factory, x, y, membership, config, range(4), max_concurrent=3
    )  # groups of 3 and 1
    assert sorted(seq) == sorted(con) == [0, 1, 2, 3]
    for m in range(4):
        assert list(seq[m]) == list(con[m])
        for k in seq[m]:
            torch.testing.assert_close(con[m][k], seq[m][k], rtol=1e-4, atol=1e-5)
    # the models differ from each other and moved away from their initialisation
    assert not torch.allclose(seq[0][next(iter(seq[0]))], seq[1][next(iter(seq[1]))])
    if model == "cnn":
        assert seq[0]["bn1.num_batches_tracked"].item() == 3 * 5  # 48 examples / 10 per step
        assert not torch.allclose(seq[0]["bn1.running_mean"], seq[1]["bn1.running_mean"])


def test_training_is_deterministic_and_leaves_global_rng_alone():
    x, y = _pool()
    membership = balanced_membership(len(x), 2, seed=0)
    _, factory = model_factory("mlp", (1, 8, 8), 3)
    config = TrainConfig(epochs=1, batch_size=16)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = _train(train_concurrent, factory, x, y, membership, config, [0, 1])
    assert torch.equal(torch.rand(3), expected)
    b = _train(train_concurrent, factory, x, y, membership, config, [1])
    torch.testing.assert_close(a[1], b[1])  # a model does not depend on which others train


def test_user_factory_with_batchnorm1d():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # no bias before BatchNorm: its true gradient is 0, and Adam would turn the
            # round-off left in it into full-size steps of either sign
            self.fc = nn.Linear(64, 8, bias=False)
            self.bn = nn.BatchNorm1d(8)
            self.out = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.relu(self.bn(self.fc(x.flatten(1)))))

    name, factory = model_factory(Net, (1, 8, 8), 3)
    assert name.startswith("custom:") and name.endswith("Net")
    x, y = _pool()
    membership = balanced_membership(len(x), 2, seed=0)
    config = TrainConfig(epochs=2, batch_size=12)
    seq = _train(train_sequential, factory, x, y, membership, config, [0, 1])
    con = _train(train_concurrent, factory, x, y, membership, config, [0, 1])
    for m in (0, 1):
        for k in seq[m]:
            torch.testing.assert_close(con[m][k], seq[m][k], rtol=1e-4, atol=1e-5)


def test_model_errors():
    with pytest.raises(InvalidParameterError, match="use --model mlp"):
        model_factory("cnn", (30,), 2)
    with pytest.raises(InvalidParameterError, match="Did you mean 'cnn'"):
        model_factory("cn", (1, 8, 8), 2)
    assert model_factory(None, (30,), 2)[0] == "mlp"
    assert model_factory(None, (1, 8, 8), 2)[0] == "cnn"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"epochs": 0}, "epochs"), ({"lr": 0}, "lr"), ({"optimizer": "rmsprop"}, "optimizer"),
     ({"batch_size": 0}, "batch_size")],
)  # fmt: skip
def test_train_config_errors(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        TrainConfig(**kwargs)
