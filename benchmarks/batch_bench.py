"""Per-case overhead of the batch executors: in-process, process pool, Dask local cluster.

Run::

    python -m aigc_opt.benchmarks.batch_bench                  # 40 and 200 cases, 2 workers
    python benchmarks/batch_bench.py --cases 40 200 --workers 2 --csv overhead.csv

Every case is the same trivial, real solve (Stackelberg pricing with 20 followers by the
breakpoint method, well under a millisecond), so the wall time is almost all executor cost:
spawning workers, shipping the case, running it, writing and fsync-ing the CSV row. The marginal
overhead per case is the slope of wall time between the two case counts (start-up cancels out);
start-up is the intercept. Each executor first runs one untimed warm-up suite (``FEW`` cases), so
one-time costs of this process (imports, first solve) are charged to neither count; the
executor's own start-up (spawning workers, a Dask cluster) happens in every run and stays in
the intercept, where its run-to-run jitter (a few tenths of a second for a Dask cluster) also
lands: with close counts (``--cases 3 6``) that jitter dominates the slope, which can then come
out negative; keep ``MANY - FEW`` large (the default 40 / 200). ``FEW`` must be at least 1 and
below ``MANY``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aigc_opt.batch import parse_suite, run_suite

SUITE = """
[suite]
name = "overhead"
time_limit = 30.0
[[cases]]
problem = "incentives.stackelberg"
sizes = {{n_followers = [20]}}
seeds = {seeds}
methods = ["breakpoints"]
"""


def measure(n_cases: int, executor: str, workers: int) -> float:
    """Wall seconds to run ``n_cases`` trivial cases with one executor."""
    suite = parse_suite(SUITE.format(seeds=list(range(n_cases))), source="overhead")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.csv"
        t0 = time.perf_counter()
        if executor == "in-process":
            run_suite(suite, out, workers=0, progress=False)
        elif executor == "pool":
            run_suite(suite, out, workers=workers, progress=False)
        else:
            run_suite(suite, out, dask_local=True, workers=workers, progress=False)
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Measure every executor at two case counts; print start-up and marginal cost per case."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, nargs=2, default=[40, 200], metavar=("FEW", "MANY"),
                    help="two case counts, 1 <= FEW < MANY (the slope between them is the "
                         "per-case cost)")
    ap.add_argument("--workers", type=int, default=2, help="pool and Dask workers (>= 1)")
    ap.add_argument("--executors", nargs="+", default=["in-process", "pool", "dask"],
                    choices=["in-process", "pool", "dask"])
    ap.add_argument("--csv", default=None, help="write the rows to this CSV file")
    args = ap.parse_args(argv)
    few, many = args.cases
    if not 1 <= few < many:
        ap.error(f"--cases FEW MANY needs 1 <= FEW < MANY, got {few} {many}")
    if args.workers < 1 and set(args.executors) != {"in-process"}:
        ap.error(f"--workers must be >= 1, got {args.workers}")
    rows: list[dict[str, Any]] = []
    print(f"{'executor':>10} {'workers':>7} {'wall@' + str(few):>10} {'wall@' + str(many):>10} "
          f"{'startup_s':>9} {'per_case_ms':>11}")
    for ex in args.executors:
        w = 0 if ex == "in-process" else args.workers
        measure(few, ex, w)  # warm-up, untimed: one-time costs of this process
        t_few, t_many = measure(few, ex, w), measure(many, ex, w)
        slope = (t_many - t_few) / (many - few)
        row = {"executor": ex, "workers": w, "cases_few": few, "wall_few_s": t_few,
               "cases_many": many, "wall_many_s": t_many, "startup_s": t_few - slope * few,
               "per_case_ms": 1e3 * slope}
        rows.append(row)
        print(f"{ex:>10} {w:>7} {t_few:>10.2f} {t_many:>10.2f} {row['startup_s']:>9.2f} "
              f"{row['per_case_ms']:>11.2f}", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
