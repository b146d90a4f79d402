"""``solve``: scenario + spec -> program -> backend -> Result with a decoded allocation.

A *spec* is any frozen dataclass that implements the :class:`Problem` protocol. Heuristics are
functions registered per spec type; :func:`run_heuristic` scores their allocation with the
independent evaluator and reports it as a Result (``termination=feasible`` when the evaluator
finds no violation, ``error`` with the violated constraints otherwise).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .backend import SolveOptions, backend_names, check_capability, get_backend
from .errors import NoSolutionError, UnknownNameError, ValidationError
from .explain import explain_program, explain_violations
from .frozen import ReadTrackingMap
from .program import ConvexProgram, LinearProgram
from .result import Result, SolveStats, Termination
from .spec import ProblemSpec, check_instance, merged
from .validate import check_name, check_seed, check_type
from .verify import label_by_gap, tolerances_of, verify

logger = logging.getLogger(__name__)

#: Terminations that get an :class:`aigc_opt.explain.Explanation` (LinearPrograms only).
_EXPLAINED = (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)
#: Wall-time budget of an explanation inside :func:`solve`, s (also capped by the solve's
#: ``time_limit``).
EXPLAIN_TIME_LIMIT = 10.0


@runtime_checkable
class Problem(Protocol):
    """What a problem spec provides (read-only attributes, so frozen dataclasses conform)."""

    @property
    def problem(self) -> str:
        """Family name."""
        ...

    @property
    def variant(self) -> str:
        """Variant name within the family."""
        ...

    def build(self, scenario: Any) -> LinearProgram | ConvexProgram:
        """Build the program (pure, vectorised)."""
        ...

    def decode(self, scenario: Any, program: Any, values: Any) -> Any:
        """Turn solution blocks into the family's allocation."""
        ...


#: ``fn(scenario, spec, seed=..., [options=...]) -> allocation | HeuristicNote``.
Heuristic = Callable[..., Any]
Algorithm = Callable[..., Result]
_HEURISTICS: dict[type, dict[str, Heuristic]] = {}
#: Whether a registered heuristic declares an ``options`` keyword (read once, at registration).
_TAKES_OPTIONS: dict[Heuristic, bool] = {}


@dataclasses.dataclass(frozen=True)
class HeuristicNote:
    """What a heuristic returns instead of a bare allocation to add a remark to its Result.

    Parameters
    ----------
    allocation : Any
        The allocation (scored by the evaluator like any other).
    note : str
        Put into ``Result.message``, e.g. ``"stopped at the time limit after 3 of 10 windows"``.
    """

    allocation: Any
    note: str
_ALGORITHMS: dict[type, dict[str, Algorithm]] = {}
_APPLIES: dict[tuple[type, str], Callable[[Any], bool]] = {}


def register_algorithm(spec_type: type, name: str, fn: Algorithm,
                       applies: Callable[[Any], bool] | None = None) -> None:
    """Register a problem-specific solution method ``fn(instance, spec, options) -> Result``.

    Use this for exact or certified algorithms that are not a generic backend (outer
    approximation, closed forms, enumeration with bounds ...). The Result must carry the decoded
    ``allocation`` and an honest ``bound`` / ``gap``. ``applies(spec)``, when given, says
    whether the method covers a spec; :func:`methods` lists it only then (run directly on
    another spec, the method explains why it does not apply).

    Parameters
    ----------
    spec_type : type
        Spec class the method serves; its subclasses inherit it (MRO lookup).
    name : str
        Method name for :func:`run_method`; registering it again for ``spec_type`` replaces
        the earlier entry.
    fn : callable
        ``fn(instance, spec, options) -> Result`` (``options`` a
        :class:`~aigc_opt.backend.SolveOptions`).
    applies : callable, optional
        ``applies(spec) -> bool``; None (default): the method applies to every spec of the type.

    Raises
    ------
    ValidationError
        ``name`` is not a str, is a backend's name, or is a heuristic of ``spec_type``.
    """
    _check_method_name(spec_type, name, "algorithm")
    _ALGORITHMS.setdefault(spec_type, {})[name] = fn
    if applies is not None:
        _APPLIES[(spec_type, name)] = applies


def _check_method_name(spec_type: type, name: str, what: str) -> None:
    """Refuse a method name that :func:`run_method` would never reach for ``spec_type``, or
    that would hide another method there (it tries algorithms, then heuristics, then
    backends): a backend's name, a heuristic named as an algorithm of the type (or of a base
    class), an algorithm named as a heuristic registered for the type itself. A heuristic
    called ``"highs"`` silently took the place of the HiGHS backend in ``run_method``."""
    check_type(f"{what} name", name, str)
    clash = ""
    if name in backend_names():
        clash = (f"is a backend's name (run_method(instance, spec, {name!r}) solves "
                 f"{spec_type.__name__} with that backend)")
    elif what == "heuristic" and name in merged(_ALGORITHMS, spec_type):
        clash = (f"is an algorithm of {spec_type.__name__} (or a base class): run_method "
                 "would run that algorithm, never this heuristic")
    elif what == "algorithm" and name in _HEURISTICS.get(spec_type, {}):
        clash = (f"is a heuristic of {spec_type.__name__}: this algorithm would hide it "
                 "in run_method")
    if clash:
        raise ValidationError(f"{what} name", "-", name, f"{clash}; choose another name")


def _applies(spec: Any, name: str) -> bool:
    for cls in type(spec).__mro__:
        test = _APPLIES.get((cls, name))
        if test is not None:
            return bool(test(spec))
    return True


def algorithms(spec: Any) -> dict[str, Algorithm]:
    """Algorithms registered for the type of ``spec`` or any of its base classes.

    Parameters
    ----------
    spec : object
        A spec instance (its type is looked up; a subclass's entries override its parents').

    Returns
    -------
    dict of str to callable
        Name -> algorithm, including those whose ``applies`` rejects ``spec`` (see
        :func:`methods`); empty when none are registered.
    """
    return merged(_ALGORITHMS, type(spec))


def _takes_options(fn: Heuristic) -> bool:
    """True when ``fn`` has a parameter named ``options`` that can be passed by keyword."""
    try:
        param = inspect.signature(fn).parameters.get("options")
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    return param is not None and param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                 inspect.Parameter.KEYWORD_ONLY)


def register_heuristic(spec_type: type, name: str, fn: Heuristic) -> None:
    """Register ``fn(scenario, spec, seed=...) -> allocation`` as heuristic ``name``.

    A heuristic that declares an ``options`` keyword (:class:`~aigc_opt.backend.SolveOptions`)
    receives the caller's options from :func:`run_heuristic` / :func:`run_method` and should
    treat ``options.time_limit`` as a deadline for the whole call and ``options.threads`` as
    the thread count of its inner solves; one without it is called as before. It may return a
    :class:`HeuristicNote` (allocation + remark, e.g. that it stopped at the time limit).

    Parameters
    ----------
    spec_type : type
        Spec class the heuristic serves; its subclasses inherit it (MRO lookup).
    name : str
        Heuristic name for :func:`run_heuristic` / :func:`run_method`; registering it again for
        ``spec_type`` replaces the earlier entry.
    fn : callable
        ``fn(scenario, spec, seed=..., [options=...]) -> allocation | HeuristicNote``; it
        raises :class:`~aigc_opt.errors.NoSolutionError` when it finds no allocation.

    Raises
    ------
    ValidationError
        ``name`` is not a str, is a backend's name, or is an algorithm of ``spec_type`` or of
        a base class.
    """
    _check_method_name(spec_type, name, "heuristic")
    _HEURISTICS.setdefault(spec_type, {})[name] = fn
    _TAKES_OPTIONS[fn] = _takes_options(fn)


def heuristics(spec: Any) -> dict[str, Heuristic]:
    """Heuristics registered for the type of ``spec`` or any of its base classes.

    Parameters
    ----------
    spec : object
        A spec instance (its type is looked up; a subclass's entries override its parents').

    Returns
    -------
    dict of str to callable
        Name -> heuristic; empty when none are registered.
    """
    return merged(_HEURISTICS, type(spec))


def _buildable(spec: Any) -> bool:
    """True when ``spec`` builds a program that a generic backend can solve."""
    has = getattr(type(spec), "has_builder", None)
    if not getattr(spec, "program_applies", True):  # the spec's settings leave it inexact
        return False
    return bool(has()) if callable(has) else hasattr(spec, "build")


def _check_call(instance: Any, spec: Any) -> None:
    """The spec is a spec and the instance is of the type it is solved on (else
    ValidationError, never an AttributeError deep inside a builder)."""
    if not isinstance(spec, (ProblemSpec, Problem)):
        raise ValidationError("spec", "-", type(spec).__name__,
                              "must be a problem spec (an aigc_opt.ProblemSpec subclass)")
    check_instance(spec, instance)


def _options(options: SolveOptions | None, kw: dict[str, Any]) -> SolveOptions:
    if options is not None:
        check_type("options", options, SolveOptions)
    names = {f.name for f in dataclasses.fields(SolveOptions)}
    unknown = sorted(set(kw) - names)
    if unknown:
        raise UnknownNameError("solve option", unknown[0], names)
    base = options or SolveOptions()
    return dataclasses.replace(base, **kw) if kw else base


def solve(
    scenario: Any,
    spec: Problem,
    backend: str = "highs",
    *,
    options: SolveOptions | None = None,
    **kw: Any,
) -> Result:
    """Build ``spec`` on ``scenario``, solve it with ``backend`` and decode the allocation.

    Parameters
    ----------
    scenario : Scenario
        The instance.
    spec : Problem
        A problem spec (e.g. :class:`aigc_opt.problems.offloading.OffloadingSpec`).
    backend : str
        Registry name: ``"highs"``, ``"cvxpy"``, ``"pyomo"`` (see :func:`aigc_opt.backends`).
    options : SolveOptions, optional
        Solver options; keyword arguments (``time_limit=``, ``mip_gap=``, ``threads=``,
        ``verbose=``, ``extra=``) override its fields.
    **kw
        Fields of :class:`~aigc_opt.backend.SolveOptions` (an unknown name raises
        :class:`~aigc_opt.errors.UnknownNameError`).

    Returns
    -------
    Result
        With ``allocation`` decoded when a solution is present, checked by the family's
        evaluator (:func:`aigc_opt.verify.verify`: ``verified``, ``eval_objective``, or
        ``termination=unverified`` when the referee disagrees; ``options.verify=False`` skips
        the check, for timing runs only). Infeasible, unbounded and limit outcomes are
        statuses, not exceptions; an infeasible LP/MILP carries ``explanation``
        (:func:`aigc_opt.explain.explain_infeasible`: the named constraints of its irreducible
        infeasible subsets; skipped with ``verify=False``).
    """
    _check_call(scenario, spec)
    opts = _options(options, kw)
    be = get_backend(check_name("backend", backend, backend_names()))
    t0 = time.perf_counter()
    program = spec.build(scenario)
    build_s = time.perf_counter() - t0
    check_capability(be, program.kind)
    res = be.solve(program, opts)
    allocation = None
    if res.has_solution:
        allocation = spec.decode(scenario, program, res.values)
    scale = float(program.meta.get("objective_scale", 1.0))
    stats = dataclasses.replace(res.stats, build_seconds=build_s)
    logger.debug("%s on %s: %s in %.3fs", backend, program.name, res.termination,
                 res.stats.solve_seconds)
    res = dataclasses.replace(
        res,
        objective=res.objective * scale,
        bound=res.bound * scale,
        allocation=allocation,
        stats=stats,
    )
    if not opts.verify:
        return label_by_gap(res)
    if res.termination in _EXPLAINED:
        limit = min(EXPLAIN_TIME_LIMIT, opts.time_limit or math.inf)
        t1 = time.perf_counter()
        res = _with_explanation(res, explain_program(program, backend=backend,
                                                     time_limit=limit), t1)
    rtol, vtol = tolerances_of(be)
    return verify(scenario, spec, res, obj_rtol=rtol, viol_tol=vtol)


def _with_explanation(res: Result, explanation: Any, t1: float) -> Result:
    """``res`` with ``explanation`` attached and the seconds spent finding it (since ``t1``)
    in ``stats.extra["explain_seconds"]``: an infeasibility explanation (an IIS search) can
    take up to :data:`EXPLAIN_TIME_LIMIT`, far longer than the solve it explains."""
    stats = dataclasses.replace(res.stats, extra={**res.stats.extra,
                                                  "explain_seconds": time.perf_counter() - t1})
    return dataclasses.replace(res, explanation=explanation, stats=stats)


def _explain_built(instance: Any, spec: Any, opts: SolveOptions) -> Any:
    """Explanation of an algorithm's infeasible outcome from the spec's own program (HiGHS for
    a LinearProgram, CVXPY for a ConvexProgram); None when it cannot be built."""
    try:
        program = spec.build(instance)
    except Exception:  # an algorithm-only model: no program to explain
        logger.debug("no program to explain", exc_info=True)
        return None
    limit = min(EXPLAIN_TIME_LIMIT, opts.time_limit or math.inf)
    return explain_program(program, time_limit=limit)


def _explain_failure(instance: Any, spec: Any, res: Result, opts: SolveOptions) -> Result:
    """A heuristic that found no allocation proves nothing about the instance: explain from
    the spec's own program (when it builds) whether the instance is infeasible, and why (its
    conflicts), or feasible (no conflict: the heuristic failed). The result had no explanation
    at all, so 'infeasible' from e.g. ``decomposition`` could not be told apart from a proof."""
    if not _buildable(spec):
        return res
    t1 = time.perf_counter()
    expl = _explain_built(instance, spec, opts)
    if expl is None:
        return res
    verdict = ("the instance is infeasible (see explanation)" if expl.conflicts else
               "the instance itself is feasible" if expl.complete else
               "the instance's feasibility was not decided in time")
    res = dataclasses.replace(res, message=f"{res.message}; {verdict}")
    return _with_explanation(res, expl, t1)


def numerical_failure(exc: ValidationError) -> bool:
    """Whether ``exc``, raised inside a method on inputs that passed validation, is the
    method's own arithmetic failing (NaN or an infinity in a quantity it computed, e.g. a
    bandwidth ``D / (t log2(1 + snr))`` with data of 1e-320 bit) rather than a refusal of the
    input or of an option: its value is a non-finite number and its field is not an option
    (``extra...``, ``options...`` or ``"<method> option <name>"``, where a NaN is the caller's)."""
    v = exc.value
    field = str(exc.field)
    return (isinstance(v, float | np.floating) and not math.isfinite(float(v))
            and not field.startswith(("extra", "options")) and " option " not in field)


def _failed(method: str, exc: ValidationError, seconds: float) -> Result:
    """The ``error`` Result of a method whose arithmetic failed (:func:`numerical_failure`)."""
    logger.warning("%s failed numerically on validated input: %s", method, exc)
    return Result(Termination.ERROR, False, gap=math.inf,
                  message=f"{method}: numerical failure on inputs that passed validation "
                          f"(a computed quantity is not finite: {exc})",
                  stats=SolveStats(backend=method, solve_seconds=seconds))


def run_heuristic(scenario: Any, spec: Any, name: str, *, seed: int = 0,
                  options: SolveOptions | None = None) -> Result:
    """Run heuristic ``name`` for ``spec`` and score it with the evaluator.

    The Result's ``objective`` is the evaluator's; ``bound`` and ``gap`` are NaN (no proof).
    An allocation that violates a hard constraint is ``infeasible`` (``has_solution=False``; the
    allocation and the evaluator's ``metrics`` stay attached for inspection). A heuristic that
    finds no allocation at all raises :class:`~aigc_opt.errors.NoSolutionError`: the result is
    ``infeasible`` for that heuristic (no proof about the instance), with its reason.

    ``options`` reaches heuristics that declare an ``options`` keyword (see
    :func:`register_heuristic`): those that iterate or solve programs stop at
    ``options.time_limit`` with their best allocation so far and say so in ``message``. Other
    heuristics ignore it. The evaluator's check always runs.

    Parameters
    ----------
    scenario : object
        The instance, of the spec's ``instance_type``.
    spec : ProblemSpec
        The problem spec.
    name : str
        A name from :func:`heuristics`.
    seed : int, numpy Generator, SeedSequence or None, default 0
        Passed to the heuristic as ``seed=``; an int must lie in ``[0, 2**62]``.
    options : SolveOptions, optional
        Handed to heuristics that take ``options``; None (default): their own defaults.

    Returns
    -------
    Result
        ``feasible`` (evaluator's objective, ``bound`` and ``gap`` NaN), ``infeasible`` (a hard
        violation, or no allocation found) or ``error`` (non-finite arithmetic on valid input).

    Raises
    ------
    ValidationError
        ``spec`` is not a spec, ``scenario`` is not its instance type, a bad ``seed`` or
        ``options``, or ``options.extra`` given to a heuristic that takes no options.
    UnknownNameError
        ``name`` is not a heuristic of ``spec`` (the message points exact methods to
        :func:`run_method`).
    """
    _check_call(scenario, spec)
    seed = check_seed("seed", seed)
    if options is not None:
        check_type("options", options, SolveOptions)
    table = heuristics(spec)
    if isinstance(name, str) and name not in table and name in methods(spec):
        raise UnknownNameError(f"heuristic for {type(spec).__name__}", name, table,
                               f"; {name!r} is an exact method or backend: run it with "
                               f"aigc_opt.run_method(instance, spec, {name!r})")
    check_name(f"heuristic for {type(spec).__name__}", name, table)
    fn = table[name]
    takes = _TAKES_OPTIONS.get(fn)
    if takes is None:  # put into the table without register_heuristic
        takes = _TAKES_OPTIONS[fn] = _takes_options(fn)
    kwargs: dict[str, Any] = {"seed": seed}
    tracked = None
    if options is not None and options.extra and not takes:
        _refuse_extra(options.extra, name)
    if options is not None and takes:
        kwargs["options"], tracked = _tracking(options)
    elif options is not None and options.time_limit is not None:
        logger.debug("heuristic %s takes no options: time_limit %s not applied", name,
                     options.time_limit)
    t0 = time.perf_counter()
    try:
        out = fn(scenario, spec, **kwargs)
    except NoSolutionError as exc:
        res = Result(Termination.INFEASIBLE, False, gap=math.inf,
                     message=f"{name} found no allocation: {exc}",
                     stats=SolveStats(backend=name, solve_seconds=time.perf_counter() - t0))
        if exc.explanation is not None:  # the heuristic knows why (e.g. its sub-model's IIS)
            return dataclasses.replace(res, explanation=exc.explanation)
        return _explain_failure(scenario, spec, res, options or SolveOptions())
    except ValidationError as exc:
        if not numerical_failure(exc):
            raise
        return _failed(name, exc, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    note = ""
    if isinstance(out, HeuristicNote):
        out, note = out.allocation, out.note
    res = Result(Termination.FEASIBLE, True, bound=math.nan, gap=math.nan, message=note,
                 allocation=out, stats=SolveStats(backend=name, solve_seconds=seconds))
    res = verify(scenario, spec, res, objective_from_evaluator=True)
    if res.termination is Termination.INFEASIBLE and res.metrics is not None:
        res = dataclasses.replace(res, explanation=explain_violations(res.metrics))
    return _note_unread(res, tracked, name)


def _tracking(opts: SolveOptions) -> tuple[SolveOptions, ReadTrackingMap[str, Any] | None]:
    """``opts`` whose ``extra`` records the keys read (None when there are none)."""
    if not opts.extra:
        return opts, None
    tracked: ReadTrackingMap[str, Any] = ReadTrackingMap(opts.extra)
    return dataclasses.replace(opts, extra=tracked), tracked


def _refuse_extra(extra: Mapping[str, Any], method: str) -> None:
    """A ValidationError naming the first ``extra`` key given to a method that takes no
    options (a heuristic without an ``options`` keyword): it can read none, and such keys
    were ignored without a word (an outside tester found 78 of 187 methods doing so)."""
    key = next(iter(extra))
    raise ValidationError(f"extra[{key!r}]", "-", extra[key], f"method {method!r} takes no "
                          f"options; remove {', '.join(map(repr, extra))}")


def _note_unread(res: Result, tracked: ReadTrackingMap[str, Any] | None, method: str) -> Result:
    """``res`` with a note naming the ``extra`` keys ``method`` never read (logged as a
    warning too). Not an error: a method that hands ``extra`` to a solver only on some
    instances (a MILP it needs only when the instance is hard) reads them only there."""
    unread = tracked.unread() if tracked is not None else []
    if not unread:
        return res
    note = f"extra option(s) not read by {method}: {', '.join(map(repr, unread))} (ignored)"
    logger.warning("%s", note)
    return dataclasses.replace(res, message=f"{res.message}; {note}" if res.message else note)


def methods(spec: Any, instance: Any = None) -> list[str]:
    """Every method name that :func:`run_method` accepts for ``spec``: registered algorithms
    that apply to it, heuristics, and (when the spec builds a program) the installed backends.
    Given an ``instance``, the program is built and only the backends that take its kind are
    listed.

    Parameters
    ----------
    spec : ProblemSpec
        The problem spec.
    instance : object, optional
        An instance of the spec's ``instance_type``; None (default): backends are not filtered
        by program kind.

    Returns
    -------
    list of str
        Each name once, in the order :func:`run_method` tries them; only installed backends.

    Raises
    ------
    ValidationError
        ``spec`` is not a spec, or ``instance`` is not of its instance type.
    """
    from .backend import backends as _backends

    if instance is not None:
        _check_call(instance, spec)
    elif not isinstance(spec, (ProblemSpec, Problem)):  # "offloading.assignment" gave []
        raise ValidationError("spec", "-", type(spec).__name__,
                              "must be a problem spec (an aigc_opt.ProblemSpec subclass; for a "
                              "problem name use aigc_opt.cases.get_case(name).make_spec())")
    names = [a for a in algorithms(spec) if _applies(spec, a)] + list(heuristics(spec))
    if _buildable(spec):
        avail = [b for b, info in _backends().items() if info["available"]]
        if instance is not None:
            kind = spec.build(instance).kind
            avail = [b for b in avail if kind in get_backend(b).kinds]
        names += avail
    # each name once (a heuristic put into the table without register_heuristic, or a
    # backend registered after a method of its name): run_method runs the first of them
    return list(dict.fromkeys(names))


def run_method(
    instance: Any, spec: Any, method: str, *, options: SolveOptions | None = None, seed: int = 0,
    **kw: Any,
) -> Result:
    """Run ``method`` on ``instance``: an algorithm, a heuristic or a backend name (in that order).

    Keyword arguments (``time_limit=``, ``mip_gap=``, ``threads=``, ...) override the fields of
    ``options``, as in :func:`solve`; ``seed`` seeds a randomised heuristic. Given options reach
    the heuristics that declare an ``options`` keyword (see :func:`run_heuristic`).

    Parameters
    ----------
    instance : object
        The instance, of the spec's ``instance_type``.
    spec : ProblemSpec
        The problem spec.
    method : str
        A name from :func:`methods` (a backend registered but not installed raises).
    options : SolveOptions, optional
        Solver options; None (default): ``SolveOptions()``.
    seed : int, numpy Generator, SeedSequence or None, default 0
        Seed of a randomised heuristic (ignored by algorithms and backends); an int must lie
        in ``[0, 2**62]``.
    **kw
        Fields of :class:`~aigc_opt.backend.SolveOptions` that override ``options``.

    Returns
    -------
    Result
        Verified by the family's evaluator unless ``verify=False`` (see :func:`solve`).

    Raises
    ------
    ValidationError
        ``spec`` is not a spec, ``instance`` is not its instance type, or a bad ``seed``,
        ``options`` or option value.
    UnknownNameError
        ``method`` is not a method of ``spec``, or ``kw`` names no SolveOptions field.
    BackendUnavailableError
        ``method`` is a backend whose package is not installed.
    CapabilityError
        ``method`` is a backend that does not take the spec's program kind.
    """
    _check_call(instance, spec)
    seed = check_seed("seed", seed)
    if not isinstance(method, str):
        raise UnknownNameError(f"method for {type(spec).__name__}", repr(method), methods(spec))
    algos = algorithms(spec)
    opts = _options(options, kw)
    if method in algos:
        opts, tracked = _tracking(opts)
        t0 = time.perf_counter()
        try:
            res = algos[method](instance, spec, opts)
        except ValidationError as exc:
            if not numerical_failure(exc):
                raise
            return _failed(method, exc, time.perf_counter() - t0)
        res = _note_unread(res, tracked, method)
        if res.stats.solve_seconds == 0.0:
            res = dataclasses.replace(res, stats=dataclasses.replace(
                res.stats, solve_seconds=time.perf_counter() - t0))
        if not opts.verify:
            return label_by_gap(res)
        if res.termination in _EXPLAINED and res.explanation is None and _buildable(spec):
            t1 = time.perf_counter()
            res = _with_explanation(res, _explain_built(instance, spec, opts), t1)
        rtol, vtol = tolerances_of(algos[method])
        return verify(instance, spec, res, obj_rtol=rtol, viol_tol=vtol)
    if method in heuristics(spec):
        # the caller's options, when given (a heuristic keeps its own defaults otherwise)
        given = opts if options is not None or kw else None
        return run_heuristic(instance, spec, method, seed=seed, options=given)
    if not _buildable(spec):
        raise UnknownNameError(f"method for {type(spec).__name__}", method, methods(spec))
    if method not in backend_names():
        raise UnknownNameError(f"method for {type(spec).__name__}", method, methods(spec))
    return solve(instance, spec, backend=method, options=opts)
