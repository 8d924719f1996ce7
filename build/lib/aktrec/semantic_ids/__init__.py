"""Semantic IDs: an RQ-VAE quantizes representations into codes; code prefixes are clusters."""
