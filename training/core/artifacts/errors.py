"""The one error of the artifact package."""


class ArtifactError(ValueError):
    """A bad suite/run name, or a missing or corrupt artifact; the message names it."""
