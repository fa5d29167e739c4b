"""Signals: φ against a high-precision reference, eval-mode inference, queries, storage."""

from __future__ import annotations

import copy

import mpmath
import numpy as np
import pytest
import torch

from miakit.errors import InvalidParameterError
from miakit.shadow.models import SmallCNN
from miakit.shadow.queries import parse_queries, parse_query
from miakit.shadow.signals import ShadowSignals, compute_signals, logit_signals, model_signals


def _reference(z: list[float], y: int) -> tuple[float, float, float]:
    """φ, loss, log max prob with 60-digit arithmetic: log p_y − log Σ_{y'≠y} p_{y'}."""
    mpmath.mp.dps = 60
    e = [mpmath.e ** mpmath.mpf(v) for v in z]
    total = mpmath.fsum(e)
    p_y = e[y] / total
    rest = mpmath.fsum(e[k] for k in range(len(z)) if k != y) / total
    return (
        float(mpmath.log(p_y) - mpmath.log(rest)),
        float(-mpmath.log(p_y)),
        float(mpmath.log(max(e) / total)),
    )


CASES = [
    ([1.0, 2.0, 3.0], 2),
    ([0.0, 0.0], 0),
    ([1000.0, 0.0, 0.0], 0),  # 1 − p_y underflows: φ = 1000 − log 2
    ([1000.0, 0.0, 0.0], 1),  # p_y underflows: φ = −1000
    ([-800.0, 5.0, -3.0, 40.0], 0),
    ([50.0, 50.0, -50.0], 1),
    ([1e-3, -1e-3, 2e-3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 3),
]


@pytest.mark.parametrize(("z", "y"), CASES)
def test_phi_loss_match_high_precision(z, y):
    phi, loss, lmp = _reference(z, y)
    got = logit_signals(torch.tensor([z], dtype=torch.float64), torch.tensor([y]))
    assert got["phi"].item() == pytest.approx(phi, rel=1e-12, abs=1e-12)
    assert got["loss"].item() == pytest.approx(loss, rel=1e-12, abs=1e-12)
    assert got["log_max_prob"].item() == pytest.approx(lmp, rel=1e-12, abs=1e-12)
    assert got["pred"].item() == int(np.argmax(z))


def test_phi_float32_logits_stay_finite():
    z = torch.tensor([[80.0, -80.0, 0.0]], dtype=torch.float32)  # exp(160) overflows float32
    got = logit_signals(z, torch.tensor([0]))
    assert got["phi"].item() == pytest.approx(80.0, rel=1e-6)
    assert torch.isfinite(got["loss"]).all()


def _bn_model() -> SmallCNN:
    torch.manual_seed(0)
    net = SmallCNN((1, 8, 8), 4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    for _ in range(5):  # move the running statistics away from their (0, 1) start
        xb = torch.rand(16, 1, 8, 8) * 3 + 1
        loss = torch.nn.functional.cross_entropy(net(xb), torch.randint(0, 4, (16,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net  # left in train mode


def test_signals_use_eval_mode_with_batchnorm():
    net = _bn_model()
    x, y = torch.rand(12, 1, 8, 8), torch.randint(0, 4, (12,))
    before = copy.deepcopy(net.state_dict())
    queries = parse_queries(None, input_shape=(1, 8, 8))
    got = model_signals(net, x, y, queries, batch_size=5)

    ref_net = copy.deepcopy(net).eval()
    train_net = copy.deepcopy(net).train()
    with torch.no_grad():
        ref = [logit_signals(ref_net(q.apply(x)).double(), y)["phi"] for q in queries]
        train_mode = logit_signals(train_net(x).double(), y)["phi"]
    np.testing.assert_allclose(got["phi"], torch.stack(ref, dim=1).numpy(), rtol=1e-6, atol=1e-6)
    # the test has teeth: train-mode (batch statistics) logits are far from eval-mode ones
    assert np.abs(train_mode.numpy() - got["phi"][:, 0]).max() > 1e-2
    # inference changed nothing: running statistics kept, train mode restored
    assert net.training
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_signals_do_not_depend_on_batch_size():
    net = _bn_model()
    x, y = torch.rand(10, 1, 8, 8), torch.randint(0, 4, (10,))
    q = parse_queries(("identity", "hflip"), input_shape=(1, 8, 8))
    a = model_signals(net, x, y, q, batch_size=3)["phi"]
    b = model_signals(net, x, y, q, batch_size=10)["phi"]
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_queries_transform_images():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    assert parse_query("hflip").apply(x)[0, 0, 0].tolist() == [2.0, 1.0, 0.0]
    shifted = parse_query("shift:1,0").apply(x)[0, 0]
    assert shifted.tolist() == [[0, 0, 1], [0, 3, 4], [0, 6, 7]]
    down = parse_query("shift:0,-1").apply(x)[0, 0]
    assert down.tolist() == [[3, 4, 5], [6, 7, 8], [0, 0, 0]]
    both = parse_query("hflip+shift:1,0").apply(x)[0, 0]
    assert both.tolist() == [[0, 2, 1], [0, 5, 4], [0, 8, 7]]
    assert parse_query("identity").apply(x) is x


@pytest.mark.parametrize(
    ("queries", "shape", "match"),
    [
        (("hflip",), (1, 8, 8), "first query must be 'identity'"),
        (("identity", "hflip"), (30,), "needs images"),
        (("identity", "rotate"), (1, 8, 8), "unknown query 'rotate'"),
        (("identity", "shift:8,0"), (1, 8, 8), "out of its 8x8 frame"),
        (("identity", "hflip", "hflip"), (1, 8, 8), "repeat"),
    ],
)
def test_bad_queries(queries, shape, match):
    with pytest.raises(InvalidParameterError, match=match):
        parse_queries(queries, input_shape=shape)


def test_default_queries():
    assert [q.name for q in parse_queries(None, input_shape=(30,))] == ["identity"]
    assert len(parse_queries(None, input_shape=(1, 28, 28))) == 6


def test_compute_and_store_round_trip(tmp_path):
    nets = [_bn_model(), _bn_model()]
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 4, (6,))
    mem = np.array([[True, False], [False, True]] * 3)
    q = parse_queries(("identity", "hflip"), input_shape=(1, 8, 8))
    sig = compute_signals(nets, x, y, mem, q)
    assert sig.phi.shape == (6, 2, 2) and sig.queries == ("identity", "hflip")
    sig.save(tmp_path / "s.npz")
    back = ShadowSignals.load(tmp_path / "s.npz")
    np.testing.assert_allclose(back.phi, sig.phi, rtol=1e-6)
    np.testing.assert_array_equal(back.pred, sig.pred)
    np.testing.assert_array_equal(back.membership, mem)
    assert back.queries == sig.queries
