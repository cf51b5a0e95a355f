"""The pipeline floor: what runs, in what order.

The training loop (`train`), the analysis runners for a run, its LLC and a suite (`analyze`,
`analyze_llc`, `analyze_suite`), the paper's claims and the report (`claims/`, `report`), data
preparation (`data`), presets and the CLI (`presets/`, `cli`). Everything here reads and writes
artifacts through `training.core.artifacts`; the service never imports this floor.
"""
