"""Input tables: reading, the data contract, importers, synthetic data and preparation."""
