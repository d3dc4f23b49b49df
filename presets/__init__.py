"""Bundled presets (YAML) and their data files, shipped as package data. Read-only."""
