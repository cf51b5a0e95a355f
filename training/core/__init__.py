"""The core floor: what a snapshot is and what is measured on it.

The model (`model`), a snapshot loaded as a TransformerLens model (`hooked`, `bridge`), the suite
tokenizer (`tokenizer`), every metric as a pure function and their registry (`analysis/`), the one
owner of the on-disk format (`artifacts/`), the stored metrics as data frames (`frames`), and the
facade the service and notebooks use (`science`). Nothing here imports `training.pipeline`: the
floor knows no loop (an import-linter `layers` contract in pyproject.toml).
"""
