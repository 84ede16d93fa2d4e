"""reel-tiny trainer: procedural captioned clips, causal video VAE, text encoder, DiT training."""
