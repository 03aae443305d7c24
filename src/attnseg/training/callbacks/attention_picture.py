"""The end-of-run attention picture: where a few target pixels attend, written next to the checkpoints."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from PIL import Image

from attnseg.models.attention.capture import attention_modules, capture_attention
from attnseg.training.loggers import log_image
from attnseg.viz.attention import render

log = logging.getLogger(__name__)

FILENAME = "attention.png"


class AttentionPicture(L.Callback):
    """After the test (with the tested weights), or after the fit when no test follows, draws where
    one query pixel of each of the first ``num_images`` test images attends: per attention module
    the image overlaid with that pixel's attention row (CCNet: after one pass and after all
    passes, see :mod:`attnseg.viz.attention`). Writes ``<dirpath>/attention.png``, logs it to the
    loggers as ``attention/final`` and keeps its path in :attr:`written`. A model without
    attention modules (FCN & co.) gets no picture.

    The query pixel of an image: the pixel of the datamodule's ``query_classes`` nearest their
    centroid (the bundled scenes' crates, whose class only a distant cue tells); the image centre
    when it has none.

    Images are first shrunk to ``max_size`` on their longer side: dense (HW) x (HW) maps grow with
    the 4th power of the side. The picture is an extra: a failure to draw it is logged as a
    warning and never fails the finished run.

    Args:
        dirpath: folder of the picture (the run directory, next to ``checkpoints/``).
        num_images: test images drawn, one row each.
        max_size: longer side, in pixels, the images are shrunk to before the maps are computed.
    """

    def __init__(self, dirpath: str | Path, num_images: int = 3, max_size: int = 512) -> None:
        if num_images < 1:
            raise ValueError(f"callbacks.attention_picture.num_images must be at least 1, got {num_images}")
        self.dirpath, self.num_images, self.max_size = Path(dirpath), num_images, max_size
        self.written: Path | None = None

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.interrupted:
            self.draw(trainer, pl_module)  # redrawn after the test, with the tested weights

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.draw(trainer, pl_module)

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        try:
            self._draw(trainer, pl_module)
        except Exception as err:  # noqa: BLE001 (an extra picture must not fail a finished run)
            log.warning(f"attention picture not drawn: {type(err).__name__}: {err}")

    def _draw(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        modules = attention_modules(pl_module.net)
        datamodule = trainer.datamodule
        if not modules or not trainer.is_global_zero or datamodule is None:
            return
        dataset = datamodule.test_set
        classes = [datamodule.class_names.index(name) for name in getattr(datamodule, "query_classes", [])]
        was_training = pl_module.training
        pl_module.eval()
        try:
            count = min(self.num_images, len(dataset))
            samples = [_shrink(*dataset[i], self.max_size) for i in range(count)]
            pictures = [_picture(pl_module, modules, image, mask, classes) for image, mask in samples]
        finally:
            pl_module.train(was_training)
        picture = _stack(pictures)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        self.written = self.dirpath / FILENAME
        picture.save(self.written)
        log_image(trainer.loggers, "attention/final", picture, caption="where the ringed pixels attend")


def _picture(
    pl_module: L.LightningModule,
    modules: dict,
    image: torch.Tensor,
    mask: torch.Tensor,
    classes: Sequence[int],
) -> Image.Image:
    x = image[None].to(pl_module.device)  # (1, 3, H, W)
    maps = {n: [(a.cpu(), s) for a, s in calls] for n, calls in capture_attention(pl_module.net, x).items()}
    pixels = (image.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()  # (H, W, 3)
    return render(pixels, maps, modules, [query_pixel(mask, classes)])


def _shrink(image: torch.Tensor, mask: torch.Tensor, max_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image (3, H, W) and mask (H, W) scaled so that the longer side is at most ``max_size``."""
    scale = max_size / max(image.shape[-2:])
    if scale >= 1:
        return image, mask
    size = [max(1, round(side * scale)) for side in image.shape[-2:]]
    image = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    return image, torch.nn.functional.interpolate(mask[None, None].float(), size=size, mode="nearest")[
        0, 0
    ].long()


def query_pixel(mask: torch.Tensor, classes: Sequence[int]) -> tuple[int, int]:
    """The ``(y, x)`` of the ``classes`` pixel nearest their centroid in ``mask`` (H, W); the
    centre when there is none."""
    height, width = mask.shape
    ys, xs = torch.nonzero(torch.isin(mask, torch.as_tensor(list(classes), dtype=mask.dtype)), as_tuple=True)
    if ys.numel() == 0:
        return height // 2, width // 2
    distance = (ys - ys.float().mean()) ** 2 + (xs - xs.float().mean()) ** 2
    nearest = int(distance.argmin())
    return int(ys[nearest]), int(xs[nearest])


def _stack(pictures: Sequence[Image.Image]) -> Image.Image:
    """The pictures one under the other on a white canvas."""
    canvas = Image.new("RGB", (max(p.width for p in pictures), sum(p.height for p in pictures)), "white")
    top = 0
    for picture in pictures:
        canvas.paste(picture, (0, top))
        top += picture.height
    return canvas
