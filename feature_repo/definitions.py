"""Feast definitions of aktrec: declared once in aktrec.features.definitions."""

from aktrec.features.definitions import feast_objects

globals().update(feast_objects("v1"))
