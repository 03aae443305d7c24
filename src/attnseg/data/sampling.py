"""Training samples as a pure function of (seed, epoch, position): exact resume, worker-independent.

:class:`EpochSampler` shuffles with a generator seeded from ``(seed, epoch)`` (Lightning calls
``set_epoch`` before every epoch) and hands out ``(index, sample_seed)`` pairs;
:class:`SeededSamples` reads ``dataset[index]`` with the global torch RNG set to ``sample_seed``
inside ``torch.random.fork_rng``, so the random augmentation of a sample depends on nothing else:
not on the number of workers, not on what the model drew (dropout) before, and not on whether the
run was interrupted. The process's own RNG is left exactly as it was, for the model.

A run resumed in the middle of an epoch asks the sampler to leave out the samples of the batches
that were already trained (:meth:`EpochSampler.skip`), so it continues with exactly the batches
the uninterrupted run would have trained next.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, sample_seed)``: a permutation (or the identity) and a seed per position.

    Lightning wraps samplers in a distributed sampler under DDP and then sets the epoch on the
    wrapper only; the sampler then counts its epochs itself (one per pass), which keeps the
    augmentation different in every epoch (exact mid-epoch resume is for single-process runs).

    Args:
        num_samples: size of the dataset.
        seed: base seed of the run.
        shuffle: permute the indices every epoch.
    """

    def __init__(self, num_samples: int, *, seed: int, shuffle: bool = True) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self._epoch_set = False  # set_epoch called since the last pass
        self._passes_started = False
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._epoch_set = epoch, True

    def skip(self, num_samples: int) -> None:
        """Leave out the first ``num_samples`` positions of the next pass (a mid-epoch resume)."""
        self._skip = num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if not self._epoch_set and self._passes_started:  # wrapped under DDP: count epochs here
            self.epoch += 1
        self._passes_started, self._epoch_set = True, False
        # modulo 2**63: a seed drawn by Lightning (seed=null) can be up to 2**64 - 1, manual_seed takes an int64
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        order = torch.randperm(self.num_samples, generator=generator) if self.shuffle else None
        seeds = torch.randint(0, 2**62, (self.num_samples,), generator=generator)
        start, self._skip = self._skip, 0
        for position in range(start, self.num_samples):
            index = int(order[position]) if order is not None else position
            yield index, int(seeds[position])

    def __len__(self) -> int:
        return self.num_samples


class SeededSamples(Dataset):
    """``dataset[index]`` read with the torch RNG seeded by the sampler's per-sample seed.

    Args:
        dataset: the split's dataset; its transforms draw from ``torch``'s global RNG.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int] | int):
        if not isinstance(key, tuple):  # a sampler Lightning put in (e.g. debug=overfit's sequential one)
            return self.dataset[key]
        index, sample_seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed)
            return self.dataset[index]
