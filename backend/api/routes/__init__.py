"""Thin routes: validate, delegate to `backend.services`, return a response model."""
