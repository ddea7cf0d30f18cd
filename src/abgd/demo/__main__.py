"""``python -m abgd.demo``: the command lives in ``abgd.demo.cli``."""

from abgd.demo.cli import main

raise SystemExit(main())
