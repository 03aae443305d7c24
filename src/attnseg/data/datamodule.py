"""One LightningDataModule for every dataset: the dataset config supplies the split datasets."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from attnseg.data.sampling import EpochSampler, SeededSamples


class SegDataModule(L.LightningDataModule):
    """Wraps already-built train/val/test datasets in DataLoaders.

    Each ``dataset=<name>`` config builds its split datasets (Hydra instantiates them, so a bad
    root or layout fails before training starts) and carries the class metadata that the model,
    metrics and visualisation read.

    Args:
        train: training split (samples are ``(image float[3,H,W] in [0,1], mask int64[H,W])``).
        val: validation split.
        test: test split; ``None`` reuses the validation split.
        num_classes: number of classes (labels ``0..num_classes-1``).
        class_names: one name per class.
        palette: one RGB colour per class, for visualisation.
        ignore_index: label value excluded from loss and metrics.
        batch_size: training batch size (per device); the train split must fill one batch at least.
        val_batch_size: evaluation batch size; ``None`` uses ``batch_size``.
        num_workers: DataLoader worker processes.
        pin_memory: pin host memory for faster host-to-GPU copies.
        persistent_workers: keep workers alive between epochs (only when ``num_workers > 0``).
        root: folder of a dataset read from disk (its splits read it through ``${dataset.root}``);
            kept so the run's config records where the data came from. ``None`` for generated data.
        query_classes: classes whose pixels the end-of-run attention picture queries (e.g. the
            bundled scenes' crates, told apart only by a distant cue); empty: the image centre.
    """

    def __init__(
        self,
        train: Dataset,
        val: Dataset,
        test: Dataset | None = None,
        *,
        num_classes: int,
        class_names: Sequence[str],
        palette: Sequence[Sequence[int]],
        ignore_index: int = 255,
        batch_size: int = 8,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = True,
        root: str | None = None,
        query_classes: Sequence[str] = (),
    ) -> None:
        super().__init__()
        check_metadata(num_classes, class_names, palette, ignore_index)
        unknown = [name for name in query_classes if name not in class_names]
        if unknown:
            raise ValueError(
                f"dataset.query_classes: {unknown} are not in dataset.class_names {list(class_names)}"
            )
        if batch_size <= 0:
            raise ValueError(f"dataset.batch_size must be a positive integer, got {batch_size}")
        for split, ds in (("train", train), ("val", val), ("test", test)):
            if ds is not None and len(ds) == 0:
                raise ValueError(f"dataset.{split}: the {split} split has no samples")
        if len(train) < batch_size:
            # the train loader drops an incomplete last batch: fit would run no step and stop
            raise ValueError(
                f"dataset.batch_size={batch_size} but the train split has {len(train)} samples: the "
                "training loader drops an incomplete batch, so not one training step would run; "
                f"lower dataset.batch_size to at most {len(train)}, or train on more samples "
                "(dataset.train.num_samples, dataset.root)"
            )
        self.train_set, self.val_set, self.test_set = train, val, test if test is not None else val
        self.num_classes = num_classes
        self.class_names = list(class_names)
        self.palette = [tuple(c) for c in palette]
        self.ignore_index = ignore_index
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.root = root
        self.query_classes = list(query_classes)
        # the run's seed (`seed_everything` ran before the datamodule is built): the train order
        # and augmentation derive from it, see attnseg.data.sampling
        self.seed = torch.initial_seed()
        self._resume_batches = 0

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=shuffle,  # BatchNorm needs >1 sample; eval sees every sample
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches whose order and augmentation are a function of (run seed, epoch)."""
        sampler = EpochSampler(len(self.train_set), seed=self.seed)
        sampler.skip(self._resume_batches * self.batch_size)
        self._resume_batches = 0
        return DataLoader(
            SeededSamples(self.train_set),
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=True,  # BatchNorm needs >1 sample
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            # worker seeds come from here, not from the process's RNG (kept for the model)
            generator=torch.Generator().manual_seed(self.seed),
        )

    def state_dict(self) -> dict[str, int]:
        """Saved in checkpoints: how many batches of the current epoch were trained."""
        loop = self.trainer.fit_loop if self.trainer is not None else None
        done = loop.epoch_loop.batch_progress.current.completed if loop is not None else 0
        total = self.trainer.num_training_batches if loop is not None else 0
        return {"train_batches_done": done if 0 < done < total else 0}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """A checkpoint saved mid-epoch: the next train loader leaves those batches out."""
        self._resume_batches = int(state.get("train_batches_done", 0))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.val_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.val_batch_size, shuffle=False)


def check_metadata(
    num_classes: int, class_names: Sequence[str], palette: Sequence[Sequence[int]], ignore_index: int
) -> None:
    """Raise a ``ValueError`` naming the config key when class metadata is inconsistent."""
    if not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(f"dataset.num_classes must be a positive integer, got {num_classes!r}")
    if len(class_names) != num_classes:
        raise ValueError(
            f"dataset.class_names has {len(class_names)} names but dataset.num_classes is {num_classes}"
        )
    if len(palette) != num_classes or any(len(c) != 3 for c in palette):
        raise ValueError(f"dataset.palette must list {num_classes} RGB triples, got {list(palette)!r}")
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"dataset.ignore_index={ignore_index} collides with a class id (0..{num_classes - 1}); use 255"
        )
