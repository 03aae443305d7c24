"""A trained model for notebooks: checkpoint in, masks, colours and attention maps out.

    segmenter = Segmenter.from_checkpoint("logs/train/runs/<run>/checkpoints/last.ckpt")
    mask = segmenter.predict("photo.jpg")  # (H, W) uint8 class ids at the image's own size

The pieces are the commands' own: the model is rebuilt as ``attnseg-predict`` rebuilds it
(:mod:`attnseg.inference.checkpoint`), masks go through :func:`~attnseg.inference.images.predict_image`
with ``attnseg-predict``'s inference settings, and attention maps are recorded as
``attnseg-attention-maps`` records them (:mod:`attnseg.models.attention.capture`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from attnseg.config.compose import conf_dir
from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.inference.device import pick_device
from attnseg.inference.images import predict_image, read_image, shrink
from attnseg.inference.modes import SegmentationInference
from attnseg.models.attention.capture import (
    capture_attention,
    is_spatial,
    query_row,
    require_attention_modules,
)
from attnseg.training.module import SegmentationModule
from attnseg.viz.masks import blend, colorize

ImageInput = np.ndarray | Image.Image | str | os.PathLike
ATTENTION_MAX_SIZE = 512  # attnseg-attention-maps' max_size (conf/attention_maps.yaml)
EXPECTED = (
    "an RGB uint8 array (H, W, 3) (grayscale (H, W) and RGBA (H, W, 4) are converted), "
    "a PIL image or an image file path"
)


def to_rgb(image: ImageInput) -> np.ndarray:
    """Any accepted image as RGB uint8 (H, W, 3), converted as ``PIL.Image.convert("RGB")`` does."""
    if isinstance(image, (str, os.PathLike)):
        if not Path(image).expanduser().is_file():
            raise FileNotFoundError(f"image: no such file {str(image)!r}; expected {EXPECTED}")
        try:
            return read_image(Path(image).expanduser())
        except ValueError as err:  # read_image names the command's argument, `input`
            raise ValueError(f"image: {str(err).removeprefix('input: ')}") from err
    if isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"image: got a {type(image).__module__}.{type(image).__qualname__}; expected {EXPECTED}"
        )
    if image.dtype != np.uint8:
        raise ValueError(
            f"image: got a {image.dtype} array of shape {image.shape}; expected uint8 values 0-255 "
            "(floats in [0, 1]: `(image * 255).round().astype(np.uint8)`)"
        )
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (2, 3, 4)) or not image.size:
        raise ValueError(
            f"image: got a uint8 array of shape {image.shape}; expected {EXPECTED}, channels last"
        )
    if image.ndim == 3 and image.shape[-1] == 3:
        return np.require(image, requirements=["C", "W"])  # torch wants a writable array
    return np.array(Image.fromarray(image).convert("RGB"))  # L / LA / RGBA as a file of them would read


def predict_defaults() -> SegmentationInference:
    """``attnseg-predict``'s inference settings (conf/predict.yaml): whole images up to 512 px,
    a sliding window beyond."""
    return instantiate(OmegaConf.load(conf_dir() / "predict.yaml").inference)


class Segmenter:
    """A trained segmentation model with its class names and palette, for one image at a time.

    Args:
        model: the trained module (e.g. from :func:`~attnseg.inference.checkpoint.build_model`).
        class_names: one name per class, in class-id order.
        palette: one RGB colour per class, in class-id order.
        inference: test-time settings; ``None`` uses ``attnseg-predict``'s (:func:`predict_defaults`).
        device: ``auto`` (the GPU when there is one), ``cpu``, ``cuda``, ... or a ``torch.device``.
    """

    def __init__(
        self,
        model: SegmentationModule,
        class_names: Sequence[str],
        palette: Sequence[Sequence[int]],
        inference: SegmentationInference | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        if inference is not None and not isinstance(inference, SegmentationInference):
            raise TypeError(
                f"inference: got {inference!r}; expected None or an "
                "attnseg.inference.modes.SegmentationInference (e.g. SegmentationInference(crop_size=512))"
            )
        self.device = pick_device(str(device))
        self.model = model.eval().to(self.device)
        self.class_names = list(class_names)
        self.palette = [tuple(int(c) for c in color) for color in palette]
        self.inference = inference if inference is not None else predict_defaults()
        self.config: DictConfig | None = None  # the training run's config, when loaded from a checkpoint

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "auto",
        inference: SegmentationInference | None = None,
    ) -> Segmenter:
        """The model of a checkpoint written by ``attnseg-train``, rebuilt from its stored config."""
        checkpoint = load_checkpoint(path)
        cfg = run_config(checkpoint)
        model = build_model(cfg, checkpoint, path)
        segmenter = cls(model, cfg.model.class_names, cfg.dataset.palette, inference, device)
        segmenter.config = cfg
        return segmenter

    def __repr__(self) -> str:
        head = type(self.model.net.head).__name__
        return f"Segmenter({head}, {len(self.class_names)} classes, device={self.device})"

    def predict(self, image: ImageInput) -> np.ndarray:
        """Class ids (H, W) uint8 at the image's own size, exactly as ``attnseg-predict`` writes them."""
        return predict_image(self.model, self.inference, to_rgb(image), self.device)

    def predict_proba(self, image: ImageInput) -> np.ndarray:
        """Class probabilities (K, H, W) float32: the softmax of the logits, or with several views
        (scales x flips) the mean of their softmaxes, as :class:`SegmentationInference` averages them."""
        scores = self.inference(self.model, self._tensor(to_rgb(image)))[0].float()  # (K, H, W)
        views = len(self.inference.scales) * (2 if self.inference.flip else 1)
        return (scores.softmax(dim=0) if views == 1 else scores).cpu().numpy()

    def colorize(self, mask: np.ndarray) -> np.ndarray:
        """Class ids (H, W) -> RGB uint8 (H, W, 3) in the palette; ids outside it are black."""
        return colorize(np.asarray(mask), self.palette)

    def overlay(self, image: ImageInput, mask: np.ndarray | None = None, alpha: float = 0.5) -> np.ndarray:
        """The image with the mask's class colours blended in at opacity ``alpha`` (as
        ``attnseg-predict``'s overlay); ``mask=None`` predicts it."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: got {alpha}; expected an opacity between 0 and 1")
        rgb = to_rgb(image)
        mask = self.predict(rgb) if mask is None else np.asarray(mask)
        if mask.shape != rgb.shape[:2]:
            raise ValueError(f"mask: got shape {mask.shape}; expected the image's (H, W) = {rgb.shape[:2]}")
        return blend(rgb, self.colorize(mask), alpha)

    def attention(
        self,
        image: ImageInput,
        points: Sequence[Sequence[int]],
        max_size: int | None = ATTENTION_MAX_SIZE,
    ) -> dict[str, np.ndarray]:
        """Where each spatial attention module looks from each query pixel ``(y, x)``.

        Returns module path -> float32 maps (len(points), H, W) at the image's size, one per
        query pixel, each summing to 1 over the image (constant over each feature cell: 8 x 8
        pixels at stride 8). A module applied R > 1 times with shared weights (CCNet) gets two
        entries, as ``attnseg-attention-maps`` draws them: ``"<path> pass 1"`` and
        ``"<path> after R passes"`` (the product ``A_R ... A_1``). Channel attention (CAM) has no
        per-pixel map and is left out. The image runs whole, first shrunk to ``max_size`` on its
        longer side (dense maps grow as (H * W)^2); ``None`` keeps its size.
        """
        rgb = to_rgb(image)
        height, width = rgb.shape[:2]
        queries = _check_points(points, (height, width))
        net = self.model.net
        modules = require_attention_modules(net, f"attention: the model ({type(net.head).__name__})")
        maps = capture_attention(net, self._tensor(shrink(rgb, max_size)[0]))
        result = {}
        for name, calls in maps.items():
            (h, w) = calls[0][1]
            if not is_spatial(calls[0][0], (h, w), modules[name]):
                continue
            per_pass = [attn[0] for attn, _ in calls]  # R x (h*w, h*w)
            views = {name: per_pass}
            if len(per_pass) > 1:
                views = {f"{name} pass 1": per_pass[:1], f"{name} after {len(per_pass)} passes": per_pass}
            rows, cols = (np.arange(height) * h) // height, (np.arange(width) * w) // width  # pixel -> cell
            for label, passes in views.items():
                cells = [query_row(passes, int(rows[y]) * w + int(cols[x])) for y, x in queries]  # P x (h*w,)
                grid = torch.stack(cells).view(len(cells), h, w).cpu().numpy()  # (P, h, w)
                result[label] = _spread(grid, rows, cols)
        return result

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(self.device)  # (1, 3, H, W)


def _check_points(points: Sequence[Sequence[int]], shape: tuple[int, int]) -> list[tuple[int, int]]:
    if isinstance(points, (str, bytes)) or not len(points):
        raise ValueError(f"points: got {points!r}; expected a list of (y, x) pixels, e.g. [(40, 20)]")
    checked = []
    for given in points:
        point = tuple(np.atleast_1d(np.asarray(given)).tolist())  # numpy ints -> ints
        if len(point) != 2 or not all(
            isinstance(v, int) and 0 <= v < s for v, s in zip(point, shape, strict=True)
        ):
            raise ValueError(
                f"points: {given!r} is not a (y, x) pixel of the image (size {shape[0]}x{shape[1]})"
            )
        checked.append(point)
    return checked


def _spread(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per-cell weights (P, h, w) -> per-pixel (P, H, W): each cell's weight shared by its pixels,
    so a map keeps its total (1 for an attention row)."""
    per_row = np.bincount(rows, minlength=grid.shape[1])[rows]  # pixels in each pixel's cell row
    per_col = np.bincount(cols, minlength=grid.shape[2])[cols]
    return (grid[:, rows][:, :, cols] / np.outer(per_row, per_col)).astype(np.float32)
