"""The command line: one module per command (``HELP``, ``add_arguments``, ``run``), the shared
``common``, ``summary`` and ``headless`` helpers, and ``main`` (the parser and the dispatch).
``trainer_process`` and ``sweep_launch`` run commands in detached processes for the dashboard."""
