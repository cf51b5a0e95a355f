"""The core floor: what a snapshot is and what is measured on it (see docs/ARCHITECTURE.md)."""
