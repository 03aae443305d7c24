"""Attention modules: efficient paths against explicit formulas, the article's seed class, structure."""

# The seed class below is pasted verbatim (whitespace and old-style super() included):
# ruff: noqa: W291, W293, UP008

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from attnseg.models.attention import (
    ChannelAttention,
    CrissCrossAttention,
    NonLocal2d,
    PositionAttention,
    SelfAttention,
    _criss_cross_function,
    functional,
)


# The source article's class (../shared/seed/self-attention-in-segmentation.zh.md), verbatim.
# fmt: off
class Self_Attn(nn.Module):
    """ Self attention Layer"""
    def __init__(self,in_dim,activation):
        super(Self_Attn,self).__init__()
        self.chanel_in = in_dim
        self.activation = activation
 
        self.query_conv = nn.Conv2d(in_channels = in_dim , out_channels = in_dim//8 , kernel_size= 1)
        self.key_conv = nn.Conv2d(in_channels = in_dim , out_channels = in_dim//8 , kernel_size= 1)
        self.value_conv = nn.Conv2d(in_channels = in_dim , out_channels = in_dim , kernel_size= 1)
        self.gamma = nn.Parameter(torch.zeros(1))
 
        self.softmax  = nn.Softmax(dim=-1)
    def forward(self,x):
        """
            inputs :
                x : input feature maps( B X C X W X H)
            returns :
                out : self attention value + input feature
                attention: B X N X N (N is Width*Height)
        """
        m_batchsize,C,width ,height = x.size()
        proj_query  = self.query_conv(x).view(m_batchsize,-1,width*height).permute(0,2,1) 
        # B X C X (N)
        proj_key =  self.key_conv(x).view(m_batchsize,-1,width*height) # B X C x (*W*H)
        energy =  torch.bmm(proj_query,proj_key) # transpose check
        attention = self.softmax(energy) # B X (N) X (N)
        proj_value = self.value_conv(x).view(m_batchsize,-1,width*height) # B X C X N
 
        out = torch.bmm(proj_value,attention.permute(0,2,1) )
        out = out.view(m_batchsize,C,width,height)
 
        out = self.gamma*out + x
        return out,attention
# fmt: on


C, H, W = 16, 5, 7  # non-square on purpose: rows and columns must not be mixed up
TOL = dict(atol=1e-5, rtol=1e-5)


def _randomise(module: nn.Module) -> nn.Module:
    """Non-zero gamma / norm weights so the attention branch actually contributes."""
    torch.manual_seed(1)
    for name, p in module.named_parameters():
        if name == "gamma" or name.startswith("norm."):
            nn.init.uniform_(p, 0.5, 1.5)
    return module.eval()  # BatchNorm with running stats: a fixed affine map


def _outputs_and_grads(fn, module: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = x.detach().requires_grad_()
    out = fn(x)
    grad = torch.linspace(-1, 1, out.numel()).view_as(out)  # any fixed non-uniform upstream gradient
    params = [p for p in module.parameters() if p.requires_grad]
    return [out, *torch.autograd.grad(out, [x, *params], grad)]


def _assert_same_path(fast, reference, module: nn.Module, x: torch.Tensor) -> None:
    for got, want in zip(
        _outputs_and_grads(fast, module, x), _outputs_and_grads(reference, module, x), strict=True
    ):
        torch.testing.assert_close(got, want, **TOL)


# --- reference formulas: explicit energies, one softmax, dense (N x N) --------------------------


def ref_dense(q, k, v, scale=1.0, mask=None):
    """q, k (B, d, N), v (B, c, N) -> (B, c, N): softmax over explicit energies."""
    energy = scale * torch.einsum("bdi,bdj->bij", q, k)
    if mask is not None:
        energy = energy.masked_fill(~mask, float("-inf"))
    return torch.einsum("bij,bcj->bci", torch.softmax(energy, dim=-1), v)


def cross_mask(h: int, w: int) -> torch.Tensor:
    """mask[i, j]: pixel j is in pixel i's row or column (row-major indices)."""
    rows, cols = torch.arange(h * w) // w, torch.arange(h * w) % w
    return (rows[:, None] == rows[None]) | (cols[:, None] == cols[None])


def ref_self_attention(m: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    q, k, v = (conv(x).flatten(2) for conv in (m.query_conv, m.key_conv, m.value_conv))
    return m.gamma * ref_dense(q, k, v).view_as(x) + x


def ref_criss_cross(m: CrissCrossAttention, x: torch.Tensor) -> torch.Tensor:
    q, k, v = (conv(x).flatten(2) for conv in (m.query_conv, m.key_conv, m.value_conv))
    return m.gamma * ref_dense(q, k, v, mask=cross_mask(*x.shape[2:])).view_as(x) + x


def ref_non_local(m: NonLocal2d, x: torch.Tensor) -> torch.Tensor:
    theta, phi, g = (conv(x).flatten(2) for conv in (m.theta, m.phi, m.g))
    y = ref_dense(theta, phi, g, scale=theta.shape[1] ** -0.5).view(x.shape[0], -1, *x.shape[2:])
    return x + m.norm(m.out_proj(y))


def ref_channel_attention(m: ChannelAttention, x: torch.Tensor) -> torch.Tensor:
    feats = x.flatten(2)
    energy = torch.einsum("bcn,bdn->bcd", feats, feats)
    attn = torch.softmax(energy.max(-1, keepdim=True).values - energy, dim=-1)
    return m.gamma * torch.einsum("bcd,bdn->bcn", attn, feats).view_as(x) + x


# --- efficient paths == reference, forward and gradients ----------------------------------------


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(2, C, H, W)


@pytest.fixture(params=[512, 6], ids=["one-block", "many-blocks"])
def block_rows(request, monkeypatch) -> int:
    monkeypatch.setattr(functional, "BLOCK_ROWS", request.param)
    return request.param


@pytest.mark.parametrize("cls", [SelfAttention, PositionAttention])
def test_self_attention_matches_reference(cls, x, block_rows) -> None:
    m = _randomise(cls(C))
    _assert_same_path(m, lambda t: ref_self_attention(m, t), m, x)
    _assert_same_path(lambda t: m(t, return_attention=True)[0], lambda t: ref_self_attention(m, t), m, x)


def test_non_local_matches_reference(x, block_rows) -> None:
    m = _randomise(NonLocal2d(C))
    _assert_same_path(m, lambda t: ref_non_local(m, t), m, x)
    _assert_same_path(lambda t: m(t, return_attention=True)[0], lambda t: ref_non_local(m, t), m, x)


def test_channel_attention_matches_reference(x) -> None:
    m = _randomise(ChannelAttention(C))
    _assert_same_path(m, lambda t: ref_channel_attention(m, t), m, x)


@pytest.mark.parametrize("chunk", [1 << 20, 2 * H * C], ids=["one-chunk", "many-chunks"])
def test_criss_cross_matches_reference(x, monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(_criss_cross_function, "CHUNK_ELEMENTS", chunk)
    m = _randomise(CrissCrossAttention(C))
    _assert_same_path(m, lambda t: ref_criss_cross(m, t), m, x)
    _assert_same_path(lambda t: m(t, return_attention=True)[0], lambda t: ref_criss_cross(m, t), m, x)


def test_sdpa_path_matches_reference() -> None:
    """The CUDA / torch.compile branch, exercised on CPU: SDPA with d != C and scale=1."""
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 2, 30), torch.randn(2, 2, 30), torch.randn(2, 16, 30)
    torch.testing.assert_close(functional.sdpa_attention(q, k, v, 1.0), ref_dense(q, k, v), **TOL)


def test_custom_functions_pass_gradcheck(monkeypatch) -> None:
    monkeypatch.setattr(functional, "BLOCK_ROWS", 5)
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, c, 12, dtype=torch.float64, requires_grad=True) for c in (2, 2, 3))
    assert torch.autograd.gradcheck(lambda *t: functional.RecomputeAttention.apply(*t, 0.7), (q, k, v))
    m = _randomise(CrissCrossAttention(8)).double()
    xs = torch.randn(2, 8, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (xs,))


# --- the article's class -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SelfAttention, PositionAttention])
def test_seed_state_dict_loads_unchanged_and_gives_the_same_output(cls, x) -> None:
    torch.manual_seed(0)
    seed = Self_Attn(C, "relu")
    nn.init.constant_(seed.gamma, 0.7)
    ours = cls(C)
    ours.load_state_dict(seed.state_dict())  # strict: same names, same shapes, nothing extra
    want_out, want_attn = seed(x)
    torch.testing.assert_close(ours(x), want_out, **TOL)
    out, attn = ours(x, return_attention=True)
    torch.testing.assert_close(out, want_out, **TOL)
    torch.testing.assert_close(attn, want_attn, **TOL)


def test_criss_cross_parameter_names_match_the_official_module() -> None:
    names = set(CrissCrossAttention(C).state_dict())
    assert names == {f"{c}_conv.{p}" for c in ("query", "key", "value") for p in ("weight", "bias")} | {
        "gamma"
    }


# --- structure and API ----------------------------------------------------------------------------


def test_criss_cross_one_pass_sees_only_the_row_and_column(x) -> None:
    m = _randomise(CrissCrossAttention(C))
    i0, j0 = 2, 3
    bumped = x.clone()
    bumped[:, :, i0, j0] += 1.0
    with torch.no_grad():
        changed = (m(bumped) - m(x)).abs().amax(dim=(0, 1)) > 0  # (H, W)
    cross = torch.zeros(H, W, dtype=torch.bool)
    cross[i0, :] = cross[:, j0] = True
    assert torch.equal(changed, cross)
    with torch.no_grad():
        changed_twice = (m(m(bumped)) - m(m(x))).abs().amax(dim=(0, 1)) > 0
    assert changed_twice.all()  # R = 2 connects every pair of pixels


MODULES = [SelfAttention, PositionAttention, NonLocal2d, CrissCrossAttention, ChannelAttention]


@pytest.mark.parametrize("cls", MODULES)
def test_zero_init_is_the_identity(cls, x) -> None:
    m = cls(C).train()
    assert torch.equal(m(x), x)
    assert torch.equal(m(x, return_attention=True)[0], x)


@pytest.mark.parametrize("cls", MODULES)
def test_attention_map_is_row_stochastic_with_the_documented_shape(cls, x) -> None:
    m = _randomise(cls(C))
    with torch.no_grad():
        out, attn = m(x, return_attention=True)
    n = C if cls is ChannelAttention else H * W
    assert out.shape == x.shape and attn.shape == (2, n, n)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, n))
    if cls is CrissCrossAttention:
        assert torch.all(attn[:, ~cross_mask(H, W)] == 0)
        # row i of the map is query pixel i in row-major order: compare with the dense reference
        q, k = m.query_conv(x).flatten(2), m.key_conv(x).flatten(2)
        energy = torch.einsum("bdi,bdj->bij", q, k).masked_fill(~cross_mask(H, W), float("-inf"))
        torch.testing.assert_close(attn, torch.softmax(energy, -1), **TOL)


@pytest.mark.parametrize("cls", MODULES)
def test_bf16_autocast_runs_and_stays_close(cls, x) -> None:
    m = _randomise(cls(C))
    want = m(x)
    xs = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(xs)
    out.float().sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(xs.grad).all()
    torch.testing.assert_close(out.float(), want, atol=0.1, rtol=0.05)


@pytest.mark.parametrize("cls", MODULES)
def test_torch_compile_traces_the_whole_module(cls, x) -> None:
    """fullgraph=True: no graph break (aot_eager: the trace, without Inductor's slow codegen)."""
    m = _randomise(cls(C))
    compiled = torch.compile(m, backend="aot_eager", fullgraph=True)
    _assert_same_path(compiled, m, m, x)


@pytest.mark.slow
def test_torch_compile_inductor_matches_eager(x) -> None:
    m = _randomise(SelfAttention(C))
    _assert_same_path(torch.compile(m), m, m, x)


def test_rejects_too_few_channels() -> None:
    with pytest.raises(ValueError, match="reduction"):
        SelfAttention(4)
    with pytest.raises(ValueError, match="reduction"):
        CrissCrossAttention(4)


def test_sdpa_is_used_off_cpu_and_under_compile(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(k) or a[2])
    q = torch.randn(1, 2, 6)
    functional.dot_product_attention(q, q, torch.randn(1, 4, 6))
    assert calls == []  # eager CPU: the recompute function
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    functional.dot_product_attention(q, q, torch.randn(1, 4, 6))
    assert calls == [{"scale": 1.0}]  # the seed has no 1/sqrt(d)
