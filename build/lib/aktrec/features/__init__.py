"""Features: computation (activity, semantic IDs, cluster-averaged, cross, sequences) and Feast."""
