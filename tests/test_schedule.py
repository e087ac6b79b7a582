import numpy as np
import pytest

from vintix_data.schedule import NoiseSchedule, ScheduleError, mix_actions


def test_epsilon_matches_the_paper_formula():
    s = NoiseSchedule(p=2.0, f=0.2, steps=1000)
    t = np.arange(1000)
    horizon = 0.8 * 1000
    expected = np.where(t <= horizon, (1 - np.clip(t / horizon, 0, 1) ** 2) ** 0.5, 0.0)
    np.testing.assert_allclose(s.epsilon(t), expected, rtol=0, atol=1e-15)
    assert s.epsilon(0) == 1.0
    assert s.epsilon(800) == 0.0 and s.epsilon(999) == 0.0


@pytest.mark.parametrize("p", [0.5, 1.0, 3.0])
def test_epsilon_is_monotone_and_bounded(p):
    e = NoiseSchedule(p=p, f=0.1, steps=5000).epsilon(np.arange(5000))
    assert np.all(np.diff(e) <= 0) and e.min() == 0.0 and e.max() == 1.0


def test_curvature_orders_the_schedules():
    t = np.arange(100, 800)
    flat_start, linear, early = (NoiseSchedule(p=p, f=0.1, steps=1000).epsilon(t) for p in (3.0, 1.0, 0.5))
    assert np.all(flat_start > linear) and np.all(linear > early)


@pytest.mark.parametrize(
    "kw", [{"p": 0}, {"p": -1}, {"p": float("nan")}, {"f": 1.0}, {"f": 1.2}, {"f": -0.1}, {"steps": 0}]
)
def test_invalid_parameters_are_rejected(kw):
    with pytest.raises(ScheduleError):
        NoiseSchedule(**kw)


def test_mixer_is_the_convex_combination_clipped():
    demo = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    u = np.array([[-1.0, 1.0], [1.0, 1.0]])
    a = mix_actions(demo, u, np.array([0.25, 0.0]), np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(a[0], [0.75 * 0.5 - 0.25, -0.75 + 0.25], rtol=1e-6)
    np.testing.assert_array_equal(a[1], [1.0, 0.0])  # clipped into the box
    assert a.dtype == np.float32


def test_the_collectors_split_mixer_has_the_one_expression_bits():
    """The collector precomputes ``1 - eps`` and ``eps * u`` per episode and mixes into preallocated rows; the
    bytes of every dataset depend on that giving exactly the one-expression mixer's float32 actions."""
    from vintix_data.schedule import mix_terms, mix_with

    rng = np.random.default_rng(0)
    for trial in range(500):
        k, d = int(rng.integers(1, 6)), int(rng.integers(1, 18))
        low, high = -rng.random(d) * 3, rng.random(d) * 3
        low[rng.random(d) < 0.1], high[rng.random(d) < 0.1] = -0.0, 0.0  # ties of signed zeros with the bounds
        demo = (rng.standard_normal((k, d)) * 2).astype(np.float32 if trial % 3 else np.float64)
        demo[rng.random((k, d)) < 0.1] = -0.0
        demo[rng.random((k, d)) < 0.02] = np.nan  # a broken demonstrator's NaN stays NaN, as np.maximum keeps it
        u, eps = rng.uniform(low, high, (k, d)), rng.random(k).astype(np.float32)
        eps[rng.random(k) < 0.3] = 0.0
        e64 = eps.astype(np.float64)[:, None]
        expected = np.minimum(np.maximum((1.0 - e64) * demo + e64 * u, low), high).astype(np.float32)
        keep, noise = mix_terms(eps, u)
        out = np.empty((k, d), np.float32)
        mix_with(
            demo.astype(np.float64),
            np.broadcast_to(keep, (k, d)).copy(),
            noise,
            np.tile(low, (k, 1)),
            np.tile(high, (k, 1)),
            np.empty((k, d)),
            out,
        )
        assert out.tobytes() == expected.tobytes()
        assert mix_actions(demo, u, eps, low, high).tobytes() == expected.tobytes()
