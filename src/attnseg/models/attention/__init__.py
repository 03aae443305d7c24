"""Self-attention modules for 2-D feature maps (SAGAN, Non-local, DANet PAM/CAM, CCNet).

Every module is ``Module(in_channels, ...)`` and ``forward(x, return_attention=False)``: it
returns the output (same shape as ``x``), or ``(out, attn)`` when ``return_attention=True``,
with ``attn`` the dense row-stochastic (B, H*W, H*W) map for the spatial modules (row ``i`` =
query pixel ``i`` in row-major order) and the (B, C, C) map for :class:`ChannelAttention`.
"""

from attnseg.models.attention.channel_attention import ChannelAttention
from attnseg.models.attention.criss_cross import CrissCrossAttention
from attnseg.models.attention.functional import dot_product_attention
from attnseg.models.attention.non_local import NonLocal2d
from attnseg.models.attention.self_attention import PositionAttention, SelfAttention

__all__ = [
    "ChannelAttention",
    "CrissCrossAttention",
    "NonLocal2d",
    "PositionAttention",
    "SelfAttention",
    "dot_product_attention",
]
