"""A tolerance of the referee must not be worth anything: no allocation within it may score
better than a certified optimum. Found by a perturbation fuzz of every family's evaluator on
``certify_bench``'s unit-scaled instances (the fixed tolerances 1e-6 of a unit, of 1 money or
of 1 bit became large next to tiny budgets, demands, token costs or queues)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.benchmarks.certify_bench import make_case

TOL = 1e-6


def _certified(family: str, seed: int, method: str, **case: Any) -> tuple[Any, Any, ao.Result]:
    inst, spec, _ = make_case(family, seed, **case)
    res = ao.run_method(inst, spec, method, options=ao.SolveOptions(time_limit=30))
    assert res.optimal and res.verified, res.message
    met = ao.evaluate(inst, res.allocation, spec)
    assert met.feasible
    np.testing.assert_allclose(met.objective, res.objective, rtol=TOL, atol=1e-12)
    return inst, spec, res


def _no_better(met: ao.Metrics, res: ao.Result, sense: str) -> None:
    """Either the referee refuses the allocation or it is no better than the optimum."""
    if not met.feasible:
        return
    slack = TOL * max(abs(res.objective), 1e-12)
    if sense == "min":
        assert met.objective >= res.objective - slack
    else:
        assert met.objective <= res.objective + slack


@pytest.mark.parametrize("seed, group, exponent", [(0, "energy", 6), (1, "flop", 6)])
def test_llm_negative_tokens_within_tolerance_earn_nothing(seed: int, group: str,
                                                           exponent: int) -> None:
    """The optimum admits nobody (cost 0); tokens of -0.9e-6 each scored -1e-3 before."""
    inst, spec, res = _certified("allocation.llm_tokens", seed, "highs", group=group,
                                 exponent=exponent)
    t = np.full_like(res.allocation.tokens, -0.9e-6)
    met = ao.evaluate(inst, dataclasses.replace(res.allocation, tokens=t), spec)
    _no_better(met, res, "min")


def _stackelberg(seed: int) -> tuple[Any, Any, ao.Result]:
    return _certified("incentives.stackelberg", seed, "breakpoints", exponent=None)


def test_stackelberg_demand_over_the_best_response_earns_nothing() -> None:
    """Seed 34 draws budgets x1e-6: 0.9e-6 more units per follower (within the absolute
    tolerances of the best response and the budget) scored 8.8 % above the optimum, and
    overspent budgets by 10 % unnoticed."""
    inst, spec, res = _stackelberg(34)
    x = res.allocation.demand
    extra = min(0.9e-6, 0.9e-6 / float(np.max(res.allocation.price)))
    met = ao.evaluate(inst, dataclasses.replace(res.allocation, demand=x + extra), spec)
    _no_better(met, res, "max")
    assert met.violations["budget"] > 1e-3  # the overspend is seen, relative to the budget


def test_stackelberg_negative_demand_earns_nothing() -> None:
    """Seed 10 draws the unit cost x1e6: nobody buys, and a demand of -0.9e-6 times a
    negative margin of -1e6 scored a profit of 0.9 over the optimum 0."""
    inst, spec, res = _stackelberg(10)
    x = res.allocation.demand.copy()
    x[0, 0] = -0.9e-6
    met = ao.evaluate(inst, dataclasses.replace(res.allocation, demand=x), spec)
    _no_better(met, res, "max")


def test_online_frame_bits_beyond_the_backlog_earn_nothing() -> None:
    """Seed 29 draws queues x1e-6 (a few bits): backlog_cap's floor b0 = 1e6 bit allows 1 bit
    over the queue, and local users given more CPU scored 3.9 % above the exact optimum."""
    inst, spec, res = _certified("online.frame", 29, "exact", exponent=None)
    base = res.allocation
    for fac in (1.001, 1.1, 2.0, 10.0):
        f = np.where(base.offload, base.cpu_hz, base.cpu_hz * fac)
        met = ao.evaluate(inst, dataclasses.replace(base, cpu_hz=f), spec)
        _no_better(met, res, "max")


def test_stackelberg_price_of_another_shape_is_refused() -> None:
    """A price vector longer than the leaders (set past the allocation's own check) broadcast
    into twice the certified profit; the referee checks the shape itself."""
    import copy

    inst, spec, res = _stackelberg(33)
    bad = copy.copy(res.allocation)
    object.__setattr__(bad, "price", np.repeat(res.allocation.price, 2))
    with pytest.raises(ao.ValidationError, match="price"):
        ao.evaluate(inst, bad, spec)
