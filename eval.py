"""Evaluate a checkpoint: ``python eval.py ckpt_path=<ckpt> [dataset=...]`` (see conf/eval.yaml)."""

import hydra
from omegaconf import DictConfig

from attnseg.evaluate import run


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    return run(cfg)


if __name__ == "__main__":
    main()
