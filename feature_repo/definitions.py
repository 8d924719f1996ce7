"""Feast definitions of aktrec: every object comes from aktrec.features (one source)."""

from aktrec.features.repo import feast_objects

globals().update(feast_objects())
