"""Importers of other people's checkpoint series (`python -m training import`, see `series`):
`sources` recognises what is on disk, `probe_text` encodes probe text with the model's own
tokenizer, `series` writes the suite run."""
