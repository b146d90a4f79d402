"""Solver backends, one per file: ``highs``, ``cvxpy_backend``, ``pyomo_backend``.

Nothing here imports a solver package; :func:`aigc_opt.backend.get_backend` imports a backend
module the first time it is asked for.
"""
