"""Tools around the pipeline: benchmarks, model cost, the memory meter, sweep reports, loader throughput.

Each command here reuses the pipeline's own pieces (config composition, the LightningModule's
loss and optimizer) instead of re-deriving them; none imports a task or another command.
"""
