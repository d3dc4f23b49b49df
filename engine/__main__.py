"""``python -m engine``: the headless command line (no dashboard)."""

import sys

from engine.cli.main import main

sys.exit(main())
