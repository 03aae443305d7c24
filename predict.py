"""Predict masks: ``python predict.py ckpt_path=<ckpt> input=<image or folder> output=<folder>``."""

import hydra
from omegaconf import DictConfig

from attnseg.predict import run


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
