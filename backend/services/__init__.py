"""What the routes delegate to: plain functions over an `ArtifactStore`, testable without HTTP."""
