"""attnseg-attention-share: the share of the query pixels' attention on the cue, per pass."""

from __future__ import annotations

import torch
from torch import nn

from attnseg.tools.attention_share import attention_share


class Shifting(nn.Module):
    """An attention over a 4 x 4 grid: every row looks at cell 5, except, on the first call
    (inputs in [0, 1]; it adds 1 to what it passes on), cell 5's own row, which looks at cell 0."""

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        attn = torch.zeros(len(x), 16, 16)
        attn[:, :, 5] = 1.0
        if x.max() <= 1:
            attn[:, 5] = torch.eye(16)[0]
        return (x + 1, attn) if return_attention else x + 1


class TwoPasses(nn.Module):
    """The same attention applied twice (CCNet's recurrence) on the image at stride 8."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = Shifting()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = nn.functional.avg_pool2d(images, 8)  # (B, 3, 4, 4)
        return self.attention(self.attention(x))


def test_share_is_measured_per_pass_and_after_all_passes() -> None:
    images = torch.rand(1, 3, 32, 32)
    mask = torch.zeros(1, 32, 32, dtype=torch.long)
    mask[0, 24:, 24:] = 4  # the query pixels: the grid's last cell
    mask[0, :8, :8] = 3  # the cue: grid cell 0
    result = attention_share(TwoPasses(), images, mask, sources=[4], targets=[3])
    # from the query, one pass reaches cell 5 only; two reach what cell 5 looked at in pass 1: the
    # cue (the second pass acts first from the query's side: A2 then A1)
    assert result["attention pass 1"] == (0.0, 1 / 16)
    assert result["attention after 2 passes"] == (1.0, 1 / 16)
