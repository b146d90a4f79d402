"""Results, metrics, options, programs, instances and specs survive ``pickle`` (multiprocessing,
joblib and checkpoints need it): every case kind, one solve each, compared field by field."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from typing import Any

import numpy as np
import pytest

import aigc_opt as ao
from aigc_opt.cases import case_kinds
from aigc_opt.frozen import FrozenMap


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, dict | FrozenMap):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return bool(a == b)


@pytest.mark.parametrize("name", sorted(case_kinds()))
def test_every_case_result_pickles(name: str) -> None:
    kind = case_kinds()[name]
    inst, spec = kind.make_instance(seed=0), kind.make_spec()
    method = kind.reference or kind.default_methods[0]
    res = ao.run_method(inst, spec, method, options=ao.SolveOptions(time_limit=2.0))
    back = pickle.loads(pickle.dumps(res))
    assert back.termination == res.termination and back.verified == res.verified
    assert _same(res.objective, back.objective) and _same(res.bound, back.bound)
    assert _same(dict(res.values), dict(back.values))
    if res.metrics is not None:
        assert back.metrics is not None
        assert _same(dict(res.metrics.totals), dict(back.metrics.totals))
        assert _same(dict(res.metrics.per_item), dict(back.metrics.per_item))
        assert _same(dict(res.metrics.violations), dict(back.metrics.violations))
    for obj in (inst, spec):
        assert type(pickle.loads(pickle.dumps(obj))) is type(obj)


def test_programs_and_options_pickle() -> None:
    from aigc_opt.problems.offloading import OffloadingSpec

    scn = ao.Scenario.generate(n_users=8, n_servers=2, n_models=2, seed=1)
    prog = OffloadingSpec().build(scn)
    back = pickle.loads(pickle.dumps(prog))
    assert back.c.tolist() == prog.c.tolist() and (back.A != prog.A).nnz == 0
    opts = ao.SolveOptions(time_limit=3.0, extra={"presolve": "off"})
    assert pickle.loads(pickle.dumps(opts)) == opts


def test_frozen_map_is_read_only_and_behaves_like_the_proxy() -> None:
    m: FrozenMap[str, int] = FrozenMap({"a": 1, "b": 2})
    with pytest.raises(TypeError):
        m["a"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        m._data = {}
    with pytest.raises(TypeError):
        hash(m)
    assert m == {"a": 1, "b": 2} and m != {"a": 1}
    assert m | {"c": 3} == {"a": 1, "b": 2, "c": 3} and {"a": 0} | m == {"a": 1, "b": 2}
    assert list(reversed(m)) == ["b", "a"] and m.copy() == {"a": 1, "b": 2}
    assert copy.deepcopy(m) == m and pickle.loads(pickle.dumps(m)) == m


def _solve_offloading(seed: int) -> ao.Result:
    from aigc_opt.problems.offloading import OffloadingSpec

    scn = ao.Scenario.generate(n_users=6, n_servers=2, n_models=2, seed=seed)
    return ao.solve(scn, OffloadingSpec(), backend="highs")


def test_results_cross_a_process_pool() -> None:
    """A spawn pool returns Results (they are pickled on the way back)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.map(_solve_offloading, [0, 1])
    for seed, res in zip([0, 1], got, strict=True):
        here = _solve_offloading(seed)
        assert res.verified and res.termination == here.termination
        assert res.objective == pytest.approx(here.objective, rel=1e-9)


@pytest.mark.parametrize("env_id", ["aigc_opt/WpmecOffload-v0", "aigc_opt/LyapunovOffload-v0",
                                    "aigc_opt/EdgeOffload-v0", "aigc_opt/AgodProvider-v0"])
def test_environments_pickle_mid_episode(env_id: str) -> None:
    """A reset environment pickles (plain pickle, not cloudpickle) and its copy continues the
    episode exactly (EdgeOffload and Lyapunov held read-only proxies and could not)."""
    gym = pytest.importorskip("gymnasium")
    import aigc_opt.gym  # noqa: F401  (registers the ids)

    env = gym.make(env_id).unwrapped
    env.reset(seed=3)
    env.action_space.seed(3)
    action = env.action_space.sample()
    copy_ = pickle.loads(pickle.dumps(env))
    a = env.step(action)
    b = copy_.step(action)
    assert a[1] == b[1] and np.array_equal(a[0], b[0])
