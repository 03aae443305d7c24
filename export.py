"""Export a checkpoint to ONNX: ``python export.py ckpt_path=<ckpt>`` (see conf/export.yaml)."""

import hydra
from omegaconf import DictConfig

from attnseg.export import run


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
