"""The pure domain core: standard library only (checked by import-linter)."""
