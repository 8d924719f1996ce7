"""Content and user representations: encoder, prompts, pair mining, contrastive training."""
