"""CTR models, losses, training and evaluation."""
