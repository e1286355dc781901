"""vifi-repro: a reproducible pipeline for ViFi-CLIP and EVL on open_clip."""

__version__ = "0.1.0"
