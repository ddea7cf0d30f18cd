"""`abgd <step> ...`: one console script for every workflow step and user tool.

`abgd <step> ARGS` runs what `python -m abgd.<step> ARGS` runs; tests/test_layering.py checks
that every module a rule runs is listed here.
"""

from __future__ import annotations

import importlib
import sys

STEPS = (
    "demo", "download", "convert", "manifest", "groundtruth", "split_groups", "split", "stats",
    "train_single", "embed", "train_fusion", "train_multitask", "train_lgbm", "merge_scores",
    "custom", "predict", "threshold", "decode", "baselines", "evaluate", "summarize", "figures",
    "archive", "extract_audio",
)
#: Tools for users of a finished study (no workflow needed).
TOOLS = ("score", "check", "tag")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print("usage: abgd STEP [ARGS...]\n\nsteps (each has --help):\n  " + "\n  ".join(STEPS)
              + "\n\ntools for a finished study:\n  " + "\n  ".join(TOOLS))
        return 0 if args else 2
    step = args[0].replace("-", "_")
    if step not in STEPS + TOOLS:
        print(f"abgd: unknown step {args[0]!r}; one of: {', '.join(STEPS + TOOLS)}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"abgd.{step}")
    return int(module.main(args[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
