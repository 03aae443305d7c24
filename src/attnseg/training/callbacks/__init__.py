"""Lightning callbacks of a training run (one per file); ``conf/callbacks/`` picks them."""

from attnseg.training.callbacks.attention_picture import AttentionPicture
from attnseg.training.callbacks.gamma import LogAttentionGamma
from attnseg.training.callbacks.predictions import LogValPredictions
from attnseg.training.callbacks.preemption import SaveOnPreemption
from attnseg.training.callbacks.resume import RestoreRandomState
from attnseg.training.callbacks.throughput import TrainThroughput

__all__ = [
    "AttentionPicture",
    "LogAttentionGamma",
    "LogValPredictions",
    "RestoreRandomState",
    "SaveOnPreemption",
    "TrainThroughput",
]
