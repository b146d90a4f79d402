r"""Data types of the incentive-mechanism family: instances, specs, allocations.

Three mechanisms (the maths is in each method module's docstring):

* **contract theory** (:mod:`aigc_opt.problems.incentives.contract`): an operator offers a menu
  of (level, reward) items to providers of private type ``theta_k``; :class:`ContractInstance`,
  :class:`ContractSpec` (utility forms ``v(R)``, ``c(L)`` and their inverses, shared by the
  builder and the methods), :class:`ContractAllocation`;
* **Stackelberg pricing** (:mod:`aigc_opt.problems.incentives.stackelberg`): one leader
  (:class:`StackelbergInstance`, :class:`StackelbergSpec`) or several competing leaders
  (:class:`MultiLeaderInstance`, :class:`MultiLeaderSpec`) price a resource, followers
  best-respond; :class:`StackelbergAllocation` holds prices and demands;
* **combinatorial auction** of GPU slots (:mod:`aigc_opt.problems.incentives.auction`):
  :class:`AuctionInstance` (XOR bids, server capacities), :class:`AuctionSpec` (winner
  determination MILP, builder registered there), :class:`AuctionAllocation` (bundles, payments).

Money and resource units are the problem's own (the instances are unit-free models); every
instance is validated on construction and its arrays are read-only. This module imports only the
core, so the referee (:mod:`aigc_opt.problems.incentives.evaluate`) can use these types without
importing a builder or a method.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aigc_opt.errors import ValidationError
from aigc_opt.schema import bound
from aigc_opt.spec import ProblemSpec
from aigc_opt.validate import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_scalar,
    check_seed,
    check_size,
)

#: Upper bound of every money / resource / level value: see ``BOUNDS["money"]`` (the instances
#: are unit-free models; 1e15 keeps utilities finite and exact to ~1 unit in float64).
HIGH = bound("money")
#: Largest generated instance (types, followers, bidders, servers, bundle sizes).
MAX_SIZE = 1_000_000

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------- contract
VALUATIONS = ("linear", "log")
COSTS = ("linear", "quadratic")


def _vec(name: str, unit: str, value: Any, n: int | None = None, like: str = "theta"
         ) -> np.ndarray:
    a = check_array(name, unit, value, low=-HIGH, high=HIGH)
    if a.ndim > 1:
        raise ValidationError(name, unit, a.shape, "must be a 1-D vector")
    a = np.array(a.reshape(-1))
    if n is not None and a.shape != (n,):
        raise ValidationError(name, unit, a.shape, f"must have shape ({n},) to match {like}")
    return a


def _positive(name: str, unit: str, value: float, *, allow_inf: bool = False) -> float:
    return float(check_scalar(name, value, unit, 0.0, HIGH, strict=True, allow_inf=allow_inf))


@dataclass(frozen=True, eq=False)
class ContractInstance:
    """Provider types and the operator's utility parameters (validated, read-only).

    Parameters
    ----------
    theta : ndarray, shape (K,)
        Provider types, strictly increasing, > 0 (valuation of one unit of reward; -).
    prob : ndarray, shape (K,)
        Type probabilities, > 0, summing to 1.
    gamma1 : float
        Provider's cost coefficient of the level (per unit level, or per unit level^2 / 2).
    gamma2, gamma3 : float
        Operator's weights of the base quality ``xi`` and of the level ``L``.
    sigma : float
        Operator's satisfaction scale.
    xi : float
        Base quality the operator has without the provider (same unit as L).
    level_max : float
        Upper bound on any level (``inf``: none). Levels are >= 0.
    """

    theta: np.ndarray
    prob: np.ndarray
    gamma1: float = 1.0
    gamma2: float = 1.0
    gamma3: float = 1.0
    sigma: float = 1.0
    xi: float = 100.0
    level_max: float = math.inf

    def __post_init__(self) -> None:
        th = _vec("theta", "-", self.theta)
        if th.size < 1 or np.any(th <= 0) or np.any(np.diff(th) <= 0):
            raise ValidationError("theta", "-", th, "must be > 0 and strictly increasing")
        p = _vec("prob", "-", self.prob, th.size)
        if np.any(p <= 0) or abs(p.sum() - 1.0) > 1e-9:
            raise ValidationError("prob", "-", p, "must be > 0 and sum to 1")
        for nm in ("gamma1", "gamma2", "gamma3", "sigma"):
            object.__setattr__(self, nm, _positive(nm, "-", getattr(self, nm)))
        xi = float(check_scalar("xi", self.xi, "-", 0.0, HIGH, strict=True))
        object.__setattr__(self, "xi", xi)
        object.__setattr__(self, "level_max",
                           _positive("level_max", "-", self.level_max, allow_inf=True))
        for nm, a in (("theta", th), ("prob", p)):
            a.flags.writeable = False
            object.__setattr__(self, nm, a)

    @property
    def n_types(self) -> int:
        """Number of provider types K."""
        return int(self.theta.size)

    @classmethod
    def teleoperation(cls) -> ContractInstance:
        """The published teleoperation setup: 8 equiprobable types, gammas = sigma = 1,
        ``xi = 100``."""
        return cls(theta=np.array([110.0, 140, 175, 200, 220, 235, 245, 250]),
                   prob=np.full(8, 1 / 8))

    @classmethod
    def generate(cls, n_types: int = 8, *, seed: int = 0) -> ContractInstance:
        """Random instance: sorted distinct types in [100, 300), Dirichlet(2) probabilities."""
        n_types = check_size("n_types", n_types, MAX_SIZE, raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        th = np.sort(rng.uniform(100.0, 300.0, n_types))
        th = th + 1e-6 * np.arange(n_types)  # strictly increasing even on ties
        p = rng.dirichlet(np.full(n_types, 2.0))
        return cls(theta=th, prob=p / p.sum())


@dataclass(frozen=True, eq=False)
class ContractAllocation:
    """A menu: item k is meant for type k.

    Parameters
    ----------
    level : ndarray, shape (K,)
        Effort / quality level L_k asked of type k (>= 0, problem units).
    reward : ndarray, shape (K,)
        Reward R_k paid to type k (>= 0, money units).

    Both must be 1-D (a (K, 1) column is refused, not flattened).
    """

    level: np.ndarray
    reward: np.ndarray

    def __post_init__(self) -> None:
        for nm, unit in (("level", "-"), ("reward", "money")):
            a = check_array(nm, unit, getattr(self, nm), allow_inf=True)
            if a.ndim != 1:  # a (K, 1) or (1, K) menu is refused, not flattened
                raise ValidationError(nm, unit, a.shape, "must be a 1-D array of shape (K,)")
            object.__setattr__(self, nm, a)
        if self.level.shape != self.reward.shape:
            raise ValidationError("reward", "money", self.reward.shape,
                                  "must match level's shape")


@dataclass(frozen=True)
class ContractSpec(ProblemSpec):
    """Which utility forms the provider has (maths: :mod:`aigc_opt.problems.incentives.contract`).

    The full screening program (all IR/IC rows, CVXPY) is the builder registered for this spec
    in :mod:`~aigc_opt.problems.incentives.contract` (``spec.build(instance)``).

    Parameters
    ----------
    valuation : {"linear", "log"}
        ``v(R) = R`` or ``ln(1 + R)``.
    cost : {"linear", "quadratic"}
        ``c(L) = gamma1 L`` or ``gamma1 L^2 / 2``.
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    valuation: str = "linear"
    cost: str = "linear"
    problem: str = "incentives"
    variant: str = "contract"

    instance_type = ContractInstance

    def __post_init__(self) -> None:
        check_choice("valuation", self.valuation, VALUATIONS)
        check_choice("cost", self.cost, COSTS)

    # forms and inverses (numpy) -------------------------------------------------------------
    def v(self, reward: np.ndarray) -> np.ndarray:
        """Provider's valuation of a reward."""
        return np.asarray(reward, float) if self.valuation == "linear" else np.log1p(reward)

    def v_inv(self, a: np.ndarray) -> np.ndarray:
        """Reward with valuation ``a``."""
        return np.asarray(a, float) if self.valuation == "linear" else np.expm1(a)

    def c(self, inst: ContractInstance, level: np.ndarray) -> np.ndarray:
        """Provider's cost of a level."""
        level = np.asarray(level, float)
        if self.cost == "linear":
            return inst.gamma1 * level
        return 0.5 * inst.gamma1 * level**2

    def c_inv(self, inst: ContractInstance, e: np.ndarray) -> np.ndarray:
        """Level whose cost is ``e`` (``e >= 0``)."""
        e = np.maximum(np.asarray(e, float), 0.0)
        return e / inst.gamma1 if self.cost == "linear" else np.sqrt(2.0 * e / inst.gamma1)


# -------------------------------------------------------------------------------- Stackelberg
def _arr(name: str, unit: str, v: Any, shape: tuple[int, ...], *, allow_inf: bool = False
         ) -> np.ndarray:
    a = check_array(name, unit, v, low=0.0, strict=True, high=HIGH, allow_inf=allow_inf)
    if a.shape != shape:
        match = " to match valuation" if name != "valuation" else ""
        raise ValidationError(name, unit, a.shape, f"must have shape {shape}{match}")
    return a


@dataclass(frozen=True, eq=False)
class StackelbergInstance:
    """One leader, N followers.

    Parameters
    ----------
    valuation : ndarray, shape (N,)
        ``a_i > 0``: follower i's utility scale (money).
    budget : ndarray, shape (N,)
        ``B_i > 0`` money (``inf``: none).
    unit_cost : float
        Leader's cost per unit of resource ``c > 0`` (money/unit).
    capacity : float
        Leader's capacity ``C > 0`` units (``inf``: none).
    """

    valuation: np.ndarray
    budget: np.ndarray
    unit_cost: float = 1.0
    capacity: float = math.inf

    def __post_init__(self) -> None:
        a = check_array("valuation", "money", self.valuation, low=0.0, strict=True, high=HIGH)
        if a.ndim != 1 or a.size < 1:
            raise ValidationError("valuation", "money", a.shape, "must be a non-empty vector")
        object.__setattr__(self, "valuation", _arr("valuation", "money", a, a.shape))
        object.__setattr__(self, "budget", _arr("budget", "money", self.budget, a.shape,
                                                allow_inf=True))
        object.__setattr__(self, "unit_cost",
                           float(_arr("unit_cost", "money/unit", self.unit_cost, ())))
        object.__setattr__(self, "capacity",
                           float(_arr("capacity", "unit", self.capacity, (), allow_inf=True)))

    @property
    def n_followers(self) -> int:
        """N."""
        return int(self.valuation.size)

    @classmethod
    def generate(cls, n_followers: int = 20, *, seed: int = 0, budgets: bool = True,
                 capacity: float = math.inf, unit_cost: float = 1.0) -> StackelbergInstance:
        """Random followers: ``a ~ U[2, 20]``, budgets ``U[2, 15]`` (or none)."""
        n_followers = check_size("n_followers", n_followers, MAX_SIZE, raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        a = rng.uniform(2.0, 20.0, n_followers)
        b = rng.uniform(2.0, 15.0, n_followers) if check_bool("budgets", budgets) \
            else np.full(n_followers, np.inf)
        return cls(valuation=a, budget=b, unit_cost=unit_cost, capacity=capacity)


@dataclass(frozen=True, eq=False)
class StackelbergAllocation:
    """Leader's price(s) and followers' demands.

    Parameters
    ----------
    price : ndarray, shape (M,)
        Unit price of each leader (money/unit); M = 1 for a single leader.
    demand : ndarray, shape (N, M)
        Units follower i buys from leader j (2-D even for one leader: pass ``x[:, None]``; a
        1-D demand or a price of another shape is refused, not reshaped).
    """

    price: np.ndarray
    demand: np.ndarray

    def __post_init__(self) -> None:
        p = check_array("price", "money/unit", self.price, ndim=1)
        x = check_array("demand", "unit", self.demand, ndim=2, allow_inf=True)
        if x.shape[1] != p.size:
            raise ValidationError("demand", "unit", x.shape,
                                  f"must have one column per leader: price has {p.size} "
                                  f"entries (shape {p.shape})")
        if not np.all(p > 0):
            raise ValidationError("price", "money/unit", p, "must be > 0")
        for nm, v in (("price", p), ("demand", x)):
            object.__setattr__(self, nm, v)


@dataclass(frozen=True)
class StackelbergSpec(ProblemSpec):
    """Single-leader pricing game (maths: :mod:`aigc_opt.problems.incentives.stackelberg`)."""

    problem: str = "incentives"
    variant: str = "stackelberg"

    instance_type = StackelbergInstance


@dataclass(frozen=True, eq=False)
class MultiLeaderInstance:
    """M competing leaders, N users with budgets.

    Parameters
    ----------
    valuation : ndarray, shape (N, M)
        ``a_ij > 0``: user i's utility scale for leader j's service (money).
    budget : ndarray, shape (N,)
        ``B_i > 0`` money.
    unit_cost : ndarray, shape (M,)
        ``c_j > 0`` money/unit.
    capacity : ndarray, shape (M,)
        ``C_j > 0`` units (``inf``: none).
    """

    valuation: np.ndarray
    budget: np.ndarray
    unit_cost: np.ndarray
    capacity: np.ndarray

    def __post_init__(self) -> None:
        a = check_array("valuation", "money", self.valuation, low=0.0, strict=True, high=HIGH)
        if a.ndim != 2 or a.size < 1:
            raise ValidationError("valuation", "money", a.shape, "must be an (N, M) matrix")
        N, M = a.shape
        object.__setattr__(self, "valuation", _arr("valuation", "money", a, (N, M)))
        object.__setattr__(self, "budget", _arr("budget", "money", self.budget, (N,)))
        object.__setattr__(self, "unit_cost", _arr("unit_cost", "money/unit", self.unit_cost,
                                                   (M,)))
        object.__setattr__(self, "capacity", _arr("capacity", "unit", self.capacity, (M,),
                                                  allow_inf=True))

    @classmethod
    def generate(cls, n_users: int = 30, n_leaders: int = 3, *, seed: int = 0
                 ) -> MultiLeaderInstance:
        """Random: ``a ~ U[5, 15]``, budgets ``U[2, 10]`` (mostly binding), costs
        ``U[0.5, 1.5]``."""
        n_users = check_size("n_users", n_users, MAX_SIZE, raise_with=None)
        n_leaders = check_size("n_leaders", n_leaders, MAX_SIZE, raise_with=None)
        check_size("n_users*n_leaders", n_users * n_leaders, MAX_SIZE * 10, raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        return cls(valuation=rng.uniform(5.0, 15.0, (n_users, n_leaders)),
                   budget=rng.uniform(2.0, 10.0, n_users),
                   unit_cost=rng.uniform(0.5, 1.5, n_leaders),
                   capacity=np.full(n_leaders, np.inf))


@dataclass(frozen=True)
class MultiLeaderSpec(ProblemSpec):
    """Stackelberg-Nash price competition among leaders (maths:
    :mod:`aigc_opt.problems.incentives.stackelberg`).

    Parameters
    ----------
    grid : int
        Prices per leader in the best-response grid search.
    max_rounds : int
        Best-response rounds before giving up (FEASIBLE).
    tol : float
        Convergence: no price moves by more than ``tol`` relative in a round (Brent locates a
        smooth maximum to about sqrt(machine eps) ~ 1.5e-8, so much tighter is not reachable).
    problem, variant : str
        Family and variant name (:class:`aigc_opt.ProblemSpec`): labels; keep the defaults.
    """

    grid: int = 40
    max_rounds: int = 200
    tol: float = 1e-7
    problem: str = "incentives"
    variant: str = "stackelberg_multi"

    instance_type = MultiLeaderInstance

    def __post_init__(self) -> None:
        # grid <= 1e6 prices per leader and <= 1e6 rounds: each round is a grid search over
        # every leader, so larger values never finish
        object.__setattr__(self, "grid", check_int("grid", self.grid, "-", 3, 1_000_000))
        object.__setattr__(self, "max_rounds", check_int("max_rounds", self.max_rounds, "-", 1,
                                                         1_000_000))
        object.__setattr__(self, "tol", check_scalar("tol", self.tol, "-", 0.0,
                                                     bound("rel_tol"), strict=True))


# ------------------------------------------------------------------------------------ auction
@dataclass(frozen=True, eq=False)
class AuctionInstance:
    """Bids and server capacities.

    Parameters
    ----------
    values : ndarray, shape (N, S, K)
        ``values[n, s, k-1]``: bidder n's (reported) value for k slots at server s, money;
        0 = no bid.
    capacity : ndarray of int, shape (S,)
        GPU slots per server (>= 1).
    """

    values: np.ndarray
    capacity: np.ndarray

    def __post_init__(self) -> None:
        v = check_array("values", "money", self.values, low=0.0, high=HIGH)
        if v.ndim != 3 or 0 in v.shape:
            raise ValidationError("values", "money", v.shape, "must have shape (N, S, K) > 0")
        cap = check_array("capacity", "slot", self.capacity, low=1, high=MAX_SIZE,
                          dtype=np.int64)
        if cap.shape != (v.shape[1],):
            raise ValidationError("capacity", "slot", cap.shape,
                                  f"must have shape ({v.shape[1]},) to match values (servers)")
        if v.shape[2] > MAX_SIZE:
            raise ValidationError("values", "money", v.shape, f"bundle sizes K must be <= "
                                  f"{MAX_SIZE:,}")
        for nm, a in (("values", v), ("capacity", cap)):
            a.flags.writeable = False
            object.__setattr__(self, nm, a)

    @property
    def n_bidders(self) -> int:
        """N."""
        return int(self.values.shape[0])

    def with_bidder(self, n: int, values: np.ndarray) -> AuctionInstance:
        """Copy with bidder n's bids replaced (a misreport or a removal)."""
        n = check_int("n", n, "-", 0, self.n_bidders - 1)
        v = self.values.copy()
        v[n] = check_array("values", "money", values, v.shape[1:], low=0.0, high=HIGH)
        return AuctionInstance(values=v, capacity=self.capacity)

    @classmethod
    def generate(cls, n_bidders: int = 8, n_servers: int = 3, max_slots: int = 3, *,
                 seed: int = 0, capacity: int = 4, servers_per_bidder: int = 2
                 ) -> AuctionInstance:
        """Random bids: each bidder bids on ``servers_per_bidder`` random servers with a
        per-slot value ``U[1, 10]`` times a server factor ``U[0.8, 1.2]`` and concave bundle
        values ``u k^0.8`` (a random bundle size may be left out)."""
        N = check_size("n_bidders", n_bidders, MAX_SIZE, raise_with=None)
        S = check_size("n_servers", n_servers, MAX_SIZE, raise_with=None)
        K = check_size("max_slots", max_slots, MAX_SIZE, raise_with=None)
        check_size("n_bidders*n_servers*max_slots", N * S * K, 10_000_000, raise_with=None)
        capacity = check_int("capacity", capacity, "slot", 1, MAX_SIZE)
        servers_per_bidder = check_size("servers_per_bidder", servers_per_bidder, MAX_SIZE,
                                        raise_with=None)
        rng = np.random.default_rng(check_seed("seed", seed))
        k = np.arange(1, K + 1) ** 0.8
        unit = rng.uniform(1.0, 10.0, (N, 1, 1)) * rng.uniform(0.8, 1.2, (N, S, 1))
        v = unit * k[None, None, :]
        on = np.zeros((N, S), dtype=bool)
        pick = np.argsort(rng.random((N, S)), axis=1)[:, :min(servers_per_bidder, S)]
        np.put_along_axis(on, pick, True, axis=1)
        keep = on[:, :, None] & (rng.random((N, S, K)) > 0.2)
        return cls(values=np.where(keep, v, 0.0), capacity=np.full(S, capacity))


@dataclass(frozen=True, eq=False)
class AuctionAllocation:
    """Outcome: bundle and payment per bidder.

    Parameters
    ----------
    server : ndarray of int, shape (N,)
        Server of the bundle won, -1 for a loser (any other negative code is refused).
    slots : ndarray of int, shape (N,)
        Slots won, >= 0 (0 for a loser; the evaluator's ``loser_slots`` flags a loser holding
        slots).
    payment : ndarray, shape (N,)
        Money paid by each bidder (0 for losers; NaN where the mechanism did not price it).

    The three arrays must be 1-D of one length (an (N, 1) column is refused, not flattened).
    """

    server: np.ndarray
    slots: np.ndarray
    payment: np.ndarray

    def __post_init__(self) -> None:
        # server codes: -1 (loser) or a server index; whether the index names a server of the
        # instance is the evaluator's ``valid_bundle`` check
        s = check_array("server", "-", self.server, ndim=1, dtype=np.int64)
        if (s < -1).any():
            raise ValidationError("server", "-", s[s < -1][0],
                                  "must be -1 (a loser) or a server index >= 0")
        k = check_array("slots", "slot", self.slots, ndim=1, low=0, dtype=np.int64)
        p = _payment(self.payment)
        if p.ndim != 1:
            raise ValidationError("payment", "money", p.shape, "must be a 1-D array")
        for nm, a in (("slots", k), ("payment", p)):
            if a.shape != s.shape:
                raise ValidationError(nm, "slot" if nm == "slots" else "money", a.shape,
                                      f"wrong shape, expected {s.shape} to match server")
        for nm, a in (("server", s), ("slots", k), ("payment", p)):
            object.__setattr__(self, nm, a)


@dataclass(frozen=True)
class AuctionSpec(ProblemSpec):
    """Winner determination spec. ``build``/``decode`` (the WDP MILP builder registered in
    :mod:`aigc_opt.problems.incentives.auction`) solve the WDP only (payments 0); the method
    ``"vcg"`` adds VCG payments, ``"greedy_uniform"`` is the baseline."""

    problem: str = "incentives"
    variant: str = "auction"

    instance_type = AuctionInstance


def _payment(value: Any) -> np.ndarray:
    """Payments: real numbers; NaN allowed (a payment the mechanism did not price)."""
    return check_array("payment", "money", value, allow_inf=True, allow_nan=True)
