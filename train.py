"""Train a segmentation model: ``python train.py head=ccnet backbone=resnet50d`` (see conf/train.yaml)."""

import hydra
from omegaconf import DictConfig

from attnseg.train import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return run(cfg)


if __name__ == "__main__":
    main()
