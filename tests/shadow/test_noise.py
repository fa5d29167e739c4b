"""Noise queries and the label-only noise-robustness attack (arXiv 2007.14321): the noise is
the same for every batch size and model, has the asked spread, and the attack's score is the
known Φ(d / σ) for a linear boundary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from miakit.errors import InvalidParameterError
from miakit.shadow.attacks import TargetView, default_registry
from miakit.shadow.queries import parse_queries, parse_query
from miakit.shadow.signals import model_signals


def test_noise_queries_expand_and_parse():
    qs = parse_queries(["identity", "noise:0.1x3", "noise:2e-2#9"], input_shape=(5,))
    assert [q.name for q in qs] == ["identity", "noise:0.1#1", "noise:0.1#2", "noise:0.1#3",
                                    "noise:2e-2#9"]  # fmt: skip
    assert qs[1].noise == 0.1 and qs[1].noise_draw == 1 and not qs[1].is_identity
    with pytest.raises(InvalidParameterError, match="SIGMA must be > 0"):
        parse_query("noise:0#1")
    with pytest.raises(InvalidParameterError, match="queries repeat"):
        parse_queries(["identity", "noise:0.1x2", "noise:0.1#2"], input_shape=(5,))


def test_noise_is_fixed_by_its_draw_and_has_the_asked_spread():
    q = parse_query("noise:0.5#4")
    x = torch.zeros(2000, 3, dtype=torch.float32)
    a, b = q.apply(x), q.apply(x.clone())
    assert torch.equal(a, b) and a.dtype == torch.float32
    assert not torch.equal(a, parse_query("noise:0.5#5").apply(x))
    assert abs(float(a.std()) - 0.5) < 0.02 and abs(float(a.mean())) < 0.02


def test_signals_of_noise_queries_do_not_depend_on_batch_size():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    qs = parse_queries(["identity", "noise:0.3x4"], input_shape=(4,))
    small = model_signals(net, x, y, qs, batch_size=7)
    large = model_signals(net, x, y, qs, batch_size=4096)
    for k in small:  # (the matrix products' round-off may differ by batch size)
        np.testing.assert_allclose(small[k], large[k], rtol=1e-5, atol=1e-6)


class _Sign(torch.nn.Module):
    """Class 1 where x[:, 0] > 0: a linear decision boundary at distance |x_0|."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 50.0 * x[:, :1]
        return torch.cat([-z, z], dim=1)


def test_noise_robustness_estimates_the_distance_to_the_boundary():
    """For an input at distance d from a linear boundary, the fraction of noisy copies still
    right is Φ(d / σ): the label-only score recovers it (400 draws: within 4 standard
    errors)."""
    d = np.array([0.0, 0.05, 0.1, 0.2, 0.4])
    x = torch.zeros(len(d), 3, dtype=torch.float64)
    x[:, 0] = torch.as_tensor(d)
    y = torch.ones(len(d), dtype=torch.int64)
    qs = parse_queries(["identity", "noise:0.2x400"], input_shape=(3,))
    sig = model_signals(_Sign(), x, y, qs)
    correct = (sig["pred"] == y.numpy()[:, None]).astype(np.float64)  # (n, q)
    view = TargetView(
        target={"correct": correct},
        shadows={"correct": np.zeros((len(d), 0, len(qs)))},
        shadow_in=np.zeros((len(d), 0), dtype=bool),
        shadow_out=np.zeros((len(d), 0), dtype=bool),
        labels=y.numpy(),
        queries=tuple(q.name for q in qs),
    )
    spec = default_registry().get("label_only")
    score = spec(view, queries="noise")
    want = norm.cdf(d / 0.2)
    assert np.all(np.abs(score - want) < 4 * np.sqrt(want * (1 - want) / 400) + 1e-9)
    assert np.all(np.diff(score) > 0)  # farther from the boundary, more robust
    # "all" counts the identity query too; "augmentations" is the identity alone here
    np.testing.assert_array_equal(spec(view, queries="augmentations"), correct[:, 0])
    with pytest.raises(InvalidParameterError, match="needs noise queries"):
        spec(TargetView(**{**view.__dict__, "queries": ("identity",) * len(qs)}), queries="noise")
    with pytest.raises(InvalidParameterError, match="must be 'all'"):
        spec(view, queries="noisy")
