"""``python -m aigc_opt ...``: the ``aigc-opt`` command line (:mod:`aigc_opt.cli`)."""

from __future__ import annotations

import sys

from aigc_opt.cli import main

if __name__ == "__main__":
    sys.exit(main())
