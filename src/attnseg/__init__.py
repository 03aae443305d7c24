"""attnseg: semantic segmentation with self-attention decoder heads (Lightning + Hydra).

The folders are the layers, each importing only from the ones listed before it:

- ``config``: where ``conf/`` is, its OmegaConf resolvers, composing it, printing it;
- ``data``: datasets, augmentation, the datamodule;
- ``models``: backbones, attention modules, decode heads, the segmentor;
- ``viz``: pictures (masks, overlays, heat-maps, attention grids, confusion matrices);
- ``training``: the LightningModule, losses, metrics, callbacks, loggers, the sweep callback;
- ``inference``: checkpoints, test-time inference modes, image files, ONNX;
- ``tasks``: the commands (train, evaluate, predict, export, attention maps, explorer), each a
  function of a config;
- ``tools``: benchmarks, model cost, the memory meter, sweep reports, loader throughput.

``tasks`` and ``tools`` are peers at the top: neither imports the other, and no command imports
another command.

``tests/test_layers.py`` fails on an import that points the other way.
"""

__version__ = "0.1.0"
