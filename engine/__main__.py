"""``python -m engine``: the headless command line (no dashboard).

A Ctrl-C while the command line itself is still being imported (the first ~0.1 s) ends the
process with exit 130 and one line, never a traceback; after that :func:`main` handles it.
"""

import sys

try:
    from engine.cli.main import main
except KeyboardInterrupt:
    print("stopped by Ctrl-C", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
