"""Program types: the solver-facing forms that problem builders produce.

A :class:`LinearProgram` is the canonical array form accepted by every LP/MILP/QP backend::

    minimise (or maximise)   c^T x + 1/2 x^T Q x + offset
    subject to               row_lower <= A x <= row_upper
                             col_lower <=   x <= col_upper
                             x_j integer  for integrality[j]

A :class:`ConvexProgram` carries a CVXPY problem (for models that need cones) together with the
named blocks that map its variables back to an allocation.

Both are immutable: solving never writes into a program (the CVXPY backend copies values out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .errors import ValidationError
from .frozen import FrozenMap

if TYPE_CHECKING:  # explain imports this module; RowBuilder imports it when a group is named
    from .explain import GridLabels


class ProgramKind(StrEnum):
    """Mathematical class of a program; backends declare which kinds they accept."""

    LP = "lp"
    MILP = "milp"
    QP = "qp"
    MIQP = "miqp"
    CONIC = "conic"
    MICONIC = "miconic"


class Sense(StrEnum):
    """Optimisation direction."""

    MIN = "min"
    MAX = "max"


@dataclass(frozen=True)
class Block:
    """A named contiguous slice of the decision vector.

    Parameters
    ----------
    name : str
        Block name (e.g. ``"assign"``, ``"cache"``).
    start : int
        Index of the block's first column in the decision vector.
    shape : tuple of int
        Shape the block's values are reshaped to (C order).
    """

    name: str
    start: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of columns in the block."""
        return int(np.prod(self.shape, dtype=np.int64))

    def take(self, x: np.ndarray) -> np.ndarray:
        """Return this block's values from the full vector ``x``, reshaped to :attr:`shape`."""
        return np.asarray(x[self.start : self.start + self.size]).reshape(self.shape)


def key_positions(keys: np.ndarray, want: np.ndarray) -> np.ndarray | None:
    """Index ``i`` with ``keys[i] == want[j]`` for every ``j`` (integer keys, each stored once;
    one sort, O(n log n)), or None when some wanted key is not in ``keys``. Used to find program
    columns or matrix entries by a composite key such as ``row * n_cols + col``."""
    keys, want = np.asarray(keys), np.asarray(want)
    if keys.size == 0:
        return None if want.size else np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    pos = order[np.clip(np.searchsorted(keys[order], want), 0, keys.size - 1)]
    return pos if np.array_equal(keys[pos], want) else None


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _read_only(v: Any) -> Any:
    """``v`` with every numpy array read-only, also inside nested mappings (made
    :class:`FrozenMap`) and tuples, e.g. the ``meta["columns"]`` arrays an extension's ``rows``
    reads: a write there changed what the built program decodes to. An array is copied unless
    it already is read-only and owns its data (a family's frozen columns)."""
    if isinstance(v, np.ndarray):
        return v if v.base is None and not v.flags.writeable else _frozen(np.array(v))
    if isinstance(v, Mapping):
        return FrozenMap({k: _read_only(x) for k, x in v.items()})
    if type(v) is tuple:
        return tuple(_read_only(x) for x in v)
    return v


def _readonly_meta(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    """``meta`` as a :class:`FrozenMap` whose arrays, at any depth, are read-only."""
    return FrozenMap({k: _read_only(v) for k, v in meta.items()})


@dataclass(frozen=True)
class LinearProgram:
    """LP / MILP / QP in flat array form (see module docstring for the maths).

    Parameters
    ----------
    c : ndarray, shape (n,)
        Linear objective coefficients (scaled units chosen by the builder).
    A : scipy.sparse.csr_matrix, shape (m, n)
        Constraint matrix.
    row_lower, row_upper : ndarray, shape (m,)
        Row bounds; ``-inf`` / ``+inf`` for one-sided rows.
    col_lower, col_upper : ndarray, shape (n,)
        Column bounds.
    integrality : ndarray of bool, shape (n,)
        True where the column is integer.
    blocks : tuple of Block
        Named slices of x that cover the columns the problem decodes.
    Q : scipy.sparse.csc_matrix or None, shape (n, n)
        Symmetric positive semidefinite Hessian of the quadratic term ``1/2 x^T Q x``.
    offset : float
        Constant added to the objective.
    sense : Sense
        ``min`` or ``max``.
    name : str
        Human-readable name, used in logs and CSV rows.
    meta : Mapping[str, Any]
        Read-only arrays the problem's decoder needs (e.g. which user a column belongs to).
        ``meta["objective_scale"]`` (default 1) multiplies the program's objective to give the
        problem's objective, for builders that scale coefficients for conditioning.
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integrality: np.ndarray
    blocks: tuple[Block, ...] = ()
    Q: sp.csc_matrix | None = None
    offset: float = 0.0
    sense: Sense = Sense.MIN
    name: str = "program"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = int(np.asarray(self.c).shape[0])
        A = sp.csr_matrix(self.A, dtype=np.float64)
        # canonical: sorted, duplicate entries summed (scipy 1.13 keeps a COO-built matrix's
        # duplicates, 1.17 sums them; the scaling and the backends read the entries as stored)
        A.sum_duplicates()
        m = A.shape[0]
        if A.shape[1] != n:
            raise ValidationError("A", "-", A.shape, f"must have {n} columns to match c")
        arrays = {
            "c": (self.c, n),
            "row_lower": (self.row_lower, m),
            "row_upper": (self.row_upper, m),
            "col_lower": (self.col_lower, n),
            "col_upper": (self.col_upper, n),
        }
        for nm, (arr, size) in arrays.items():
            a = np.asarray(arr, dtype=np.float64)
            if a.shape != (size,):
                raise ValidationError(nm, "-", a.shape, f"must have shape ({size},)")
            if np.isnan(a).any():
                raise ValidationError(nm, "-", a[np.isnan(a)][:1], "contains NaN")
            object.__setattr__(self, nm, _frozen(a))
        integ = np.asarray(self.integrality, dtype=bool)
        if integ.shape != (n,):
            raise ValidationError("integrality", "-", integ.shape, f"must have shape ({n},)")
        object.__setattr__(self, "integrality", _frozen(integ))
        object.__setattr__(self, "A", A)
        if self.Q is not None:
            Q = sp.csc_matrix(self.Q, dtype=np.float64)
            if Q.shape != (n, n):
                raise ValidationError("Q", "-", Q.shape, f"must have shape ({n}, {n})")
            object.__setattr__(self, "Q", Q)
        for b in self.blocks:
            if b.start < 0 or b.start + b.size > n:
                raise ValidationError("blocks", "-", b, f"out of range for {n} columns")
        object.__setattr__(self, "sense", Sense(self.sense))
        object.__setattr__(self, "meta", _readonly_meta(self.meta))

    @property
    def n_cols(self) -> int:
        """Number of decision variables."""
        return int(self.c.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of constraint rows."""
        return int(self.A.shape[0])

    @property
    def kind(self) -> ProgramKind:
        """LP, MILP, QP or MIQP, from the integrality flags and the quadratic term."""
        integer = bool(self.integrality.any())
        quad = self.Q is not None and self.Q.nnz > 0
        if quad:
            return ProgramKind.MIQP if integer else ProgramKind.QP
        return ProgramKind.MILP if integer else ProgramKind.LP

    def objective_value(self, x: np.ndarray) -> float:
        """Evaluate ``c^T x + 1/2 x^T Q x + offset`` at ``x``."""
        val = float(self.c @ x) + self.offset
        if self.Q is not None:
            val += 0.5 * float(x @ (self.Q @ x))
        return val

    def max_violation(self, x: np.ndarray) -> float:
        """Largest bound, row or integrality violation of ``x`` (absolute, in scaled units)."""
        ax = self.A @ x
        viol = [
            np.maximum(self.row_lower - ax, 0.0),
            np.maximum(ax - self.row_upper, 0.0),
            np.maximum(self.col_lower - x, 0.0),
            np.maximum(x - self.col_upper, 0.0),
            np.abs(x - np.round(x)) * self.integrality,
        ]
        return float(max((v.max(initial=0.0) for v in viol), default=0.0))

    def block(self, name: str) -> Block:
        """Return the block called ``name``."""
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"program {self.name!r} has no block {name!r}")

    def relaxed(self) -> LinearProgram:
        """The continuous relaxation (all integrality dropped)."""
        from dataclasses import replace

        return replace(self, integrality=np.zeros(self.n_cols, dtype=bool))

    @property
    def column_data(self) -> Mapping[str, np.ndarray]:
        """Per-column arrays a family documents for extensions (``meta["columns"]``), e.g. for
        the offloading assignment the user, placement and energy of every ``assign`` column."""
        cols = self.meta.get("columns", {})
        return cols if isinstance(cols, Mapping) else {}

    @property
    def row_blocks(self) -> Mapping[str, tuple[int, int]]:
        """Named row ranges ``name -> (first, stop)`` added by :meth:`with_rows`."""
        rb = self.meta.get("row_blocks", {})
        return rb if isinstance(rb, Mapping) else {}

    def with_rows(self, blocks: Mapping[str, Any], lower: Any, upper: Any, *,
                  name: str) -> LinearProgram:
        """A new program with rows ``lower <= sum_b A_b x_b <= upper`` appended.

        Parameters
        ----------
        blocks : Mapping[str, matrix]
            Block name -> matrix (sparse or dense) of shape ``(k, block.size)``; blocks not named
            get zero coefficients.
        lower, upper : array_like, shape (k,) or scalar
            Row bounds in the program's units (``-inf`` / ``inf`` for one-sided rows).
        name : str
            Row-block name, listed in :attr:`row_blocks`.
        """
        from dataclasses import replace

        parts = []
        k = None
        for bname, mat in blocks.items():
            b = self.block(bname)
            m = sp.csr_matrix(mat, dtype=np.float64)
            if m.shape[1] != b.size:
                raise ValidationError(f"rows[{bname}]", "-", m.shape,
                                      f"must have {b.size} columns (block {bname!r})")
            if k is not None and m.shape[0] != k:
                raise ValidationError(f"rows[{bname}]", "-", m.shape, f"must have {k} rows")
            k = m.shape[0]
            coo = m.tocoo()
            parts.append((coo.row, coo.col + b.start, coo.data))
        if k is None:
            raise ValidationError("blocks", "-", dict(blocks), "name at least one block")
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
        new = sp.csr_matrix((vals, (rows, cols)), shape=(k, self.n_cols))
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (k,))
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), (k,))
        meta = dict(self.meta)
        meta["row_blocks"] = {**self.row_blocks, name: (self.n_rows, self.n_rows + k)}
        return replace(self, A=sp.vstack([self.A, new], format="csr"),
                       row_lower=np.concatenate([self.row_lower, lo]),
                       row_upper=np.concatenate([self.row_upper, hi]), meta=meta)

    def with_constraint(self, con: Any) -> LinearProgram:
        """Append an :class:`aigc_opt.spec.ExtraConstraint`'s rows (none when ``rows`` is None)."""
        if con.rows is None:
            return self
        blocks, lower, upper = con.rows(self)
        return self.with_rows(blocks, lower, upper, name=con.name)


@dataclass(frozen=True)
class ConvexProgram:
    """A convex (possibly mixed-integer) program expressed with CVXPY.

    Parameters
    ----------
    problem : cvxpy.Problem
        The CVXPY problem. Its objective value must be in the same units as the problem
        family's evaluator objective (after ``scale``).
    variables : Mapping[str, cvxpy.Variable]
        Named variables; their values become the Result's blocks.
    name : str
        Human-readable name.
    meta : Mapping[str, Any]
        Read-only arrays the decoder needs. As for a LinearProgram, ``meta["objective_scale"]``
        (default 1) converts the CVXPY objective (scaled for conditioning) to problem units.
        ``meta["solver_settings"]``, ``{SOLVER: {setting: value}}``, gives settings the model
        needs with a given CVXPY solver (e.g. CLARABEL's ``max_step_fraction``); the backend
        applies them unless ``SolveOptions.extra`` sets the same key. ``meta["dual_bound"]``,
        a callable of the solved ``cvxpy.Problem``, returns a valid bound in the same scaled
        units from the solver's duals (e.g. a Lagrangian dual function evaluated exactly at
        the solver's prices); the CVXPY backend reports it (clipped to the objective) instead
        of the objective, which is the bound of a conic solve without it.

    Notes
    -----
    CVXPY stores solution values on its variables; the backend copies them out, so a
    ConvexProgram must not be solved from two threads at once (processes are fine).
    """

    problem: Any
    variables: Mapping[str, Any]
    name: str = "convex"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", FrozenMap(dict(self.variables)))
        object.__setattr__(self, "meta", _readonly_meta(self.meta))

    @property
    def kind(self) -> ProgramKind:
        """CONIC, or MICONIC when any variable is integer/boolean."""
        integer = any(
            v.attributes.get("boolean") or v.attributes.get("integer")
            for v in self.problem.variables()
        )
        return ProgramKind.MICONIC if integer else ProgramKind.CONIC

    def with_constraint(self, con: Any) -> ConvexProgram:
        """A new program with an :class:`aigc_opt.spec.ExtraConstraint`'s CVXPY constraints
        (``con.convex(variables)``) added; unchanged when it declares none."""
        if con.convex is None:
            return self
        from dataclasses import replace

        import cvxpy as cp

        prob = cp.Problem(self.problem.objective,
                          list(self.problem.constraints) + list(con.convex(self.variables)))
        return replace(self, problem=prob)


Program = LinearProgram | ConvexProgram


class RowBuilder:
    """Accumulates constraint rows block by block as COO triplets (vectorised builders).

    Each :meth:`add` appends ``n_rows`` rows whose local indices ``rows`` (0..n_rows-1) are
    shifted past the rows added before; :meth:`matrix` and :meth:`bounds` assemble the result.
    A block given a ``name`` is recorded in :attr:`groups`, the ``meta["row_groups"]`` that
    :mod:`aigc_opt.explain` reads to name the rows of an infeasible program::

        rb = RowBuilder()
        rb.add(user, np.arange(nx), 1.0, N, 1.0, 1.0,           # sum_k x_nk = 1
               name="assignment", items="request {i}")
        rb.add(server, cols, 1.0, S, -np.inf, capacity,          # sum_n x_ns <= K_s
               name="capacity", items="server {i}")
        A, (lo, hi) = rb.matrix(n_cols), rb.bounds()
        LinearProgram(..., meta={"row_groups": rb.groups})
    """

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._groups: dict[str, tuple[int, int, Any]] = {}
        self.n_rows = 0

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray | float, n_rows: int,
            lower: np.ndarray | float, upper: np.ndarray | float, *, name: str | None = None,
            items: str | Sequence[str] | GridLabels | None = None) -> int:
        """Append a block of ``n_rows`` rows; return the index of its first row.

        Parameters
        ----------
        rows, cols, vals : array_like
            COO triplets of the block, ``rows`` local (0..n_rows-1).
        n_rows : int
            Rows in the block.
        lower, upper : array_like or float
            Row bounds (one per row, or one for all).
        name : str, optional
            Name of the block's row group in :attr:`groups` (see :meth:`name_rows`); None:
            the rows are not named.
        items : str, sequence of str or GridLabels, optional
            The rows' labels (see :meth:`name_rows`); only with ``name``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        first = self.n_rows
        self._rows.append(rows + first)
        self._cols.append(np.asarray(cols, dtype=np.int64))
        self._vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), rows.shape))
        self._lo.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), (n_rows,)))
        self._hi.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n_rows,)))
        self.n_rows += int(n_rows)
        if name is not None:
            self.name_rows(name, first, items)
        elif items is not None:
            raise ValueError("row labels (items) need a group name")
        return first

    def name_rows(self, name: str, first: int,
                  items: str | Sequence[str] | GridLabels | None = None) -> None:
        """Record the rows ``first .. n_rows-1`` (added by one or more :meth:`add` calls) as
        the row group ``name`` of :attr:`groups` (a later group of the same name replaces it).

        Parameters
        ----------
        name : str
            Group name: a row is explained as ``"<name> at <item>"``.
        first : int
            The group's first row (a value returned by :meth:`add`, or :attr:`n_rows` before
            the group's blocks were added).
        items : str, sequence of str or GridLabels, optional
            The rows' items: a template with ``{i}``, the row's index inside the group (e.g.
            ``"server {i}"``); one label per row; or a :class:`~aigc_opt.explain.GridLabels`
            of one cell per row (labels formatted when asked for, for large groups). None:
            ``"row {i}"``.
        """
        from .explain import GridLabels, row_group  # explain imports this module

        if not 0 <= first <= self.n_rows:
            raise ValueError(f"first row {first} is not in 0..{self.n_rows}")
        if isinstance(items, GridLabels):
            if len(items) != self.n_rows - first:
                raise ValueError(f"row group of {self.n_rows - first} rows needs as many "
                                 f"labels, got {len(items)}")
            self._groups[name] = (int(first), self.n_rows, items)
        else:
            self._groups[name] = row_group(first, self.n_rows,
                                           "row {i}" if items is None else items)

    @property
    def groups(self) -> dict[str, tuple[int, int, Any]]:
        """The named row groups in the order named: ``name -> (first, stop, items)`` for the
        rows ``first .. stop-1``, the ``meta["row_groups"]`` of :mod:`aigc_opt.explain`."""
        return dict(self._groups)

    def matrix(self, n_cols: int) -> sp.csr_matrix:
        """The CSR matrix of all rows added (duplicates summed)."""
        if not self._rows:
            return sp.csr_matrix((0, n_cols))
        return sp.csr_matrix(
            (np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
            shape=(self.n_rows, n_cols),
        )

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Row lower and upper bounds."""
        if not self._lo:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(self._lo), np.concatenate(self._hi)
