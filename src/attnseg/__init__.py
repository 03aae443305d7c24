"""attnseg: semantic segmentation with self-attention decoder heads (Lightning + Hydra)."""

__version__ = "0.1.0"
