"""inductionscope's REST service: the suite's metrics, and attention, ablations and attributions
computed on demand from the snapshots. Run it with `uvicorn backend.main:app` (or
`python -m backend`, which reads HOST and PORT from the settings)."""
