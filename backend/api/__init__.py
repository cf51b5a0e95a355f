"""The HTTP layer: routes, dependencies and the error-to-status mapping."""
