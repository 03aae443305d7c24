"""Training: the LightningModule, losses, metrics, callbacks, loggers, the sweep callback."""
