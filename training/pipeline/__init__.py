"""The pipeline floor: what runs, in what order, writing through the core floor's artifacts."""
