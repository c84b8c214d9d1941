"""R1: T_even arithmetic, real time and with the original simulator's 90x compression."""

import pytest

from solvers.skystore.costmodel import HOUR_S, MONTH_S, t_even


def test_t_even_real_time():
    te = t_even(0.02, 0.023)
    assert te / MONTH_S == pytest.approx(0.8696, abs=1e-4)
    assert te / 86400 == pytest.approx(26.09, abs=0.01)


def test_t_even_time_scale_90():
    te = t_even(0.02, 0.023, time_scale=90)
    assert te / HOUR_S == pytest.approx(6.957, abs=1e-3)
    assert te == pytest.approx(25043, abs=1)


@pytest.mark.parametrize(("n", "s", "hours"), [
    (0.02, 0.021, 7.62),  # aws:us-east-1 -> aws:us-west-2 (storage as loaded by the simulator)
    (0.09, 0.018032, 39.93),  # aws -> azure:westeurope
    (0.0875, 0.021, 33.33),  # azure:westeurope -> aws:us-east-1
    (0.12, 0.021, 45.71),  # gcp:us-west1 -> aws:us-east-1
    (0.01, 0.02, 4.00),  # gcp:us-east1 -> gcp:us-west1
])
def test_sim_compat_pairs(n, s, hours):
    assert t_even(n, s, time_scale=90) / HOUR_S == pytest.approx(hours, abs=0.01)


def test_free_storage_never_breaks_even():
    assert t_even(0.02, 0.0) == float("inf")
