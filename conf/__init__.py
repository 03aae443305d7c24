"""The Hydra configs, installed with the package as ``attnseg.conf`` (see pyproject.toml)."""
