"""Dashboard tests (Pilot, snapshots)."""
