"""attnseg: semantic segmentation with self-attention decoder heads (Lightning + Hydra)."""

# registers the OmegaConf resolvers used in conf/ (${sweep_group:...}, ${optuna_sqlite:...}, ...)
from attnseg.utils import resolvers as _resolvers  # noqa: F401

__version__ = "0.1.0"
