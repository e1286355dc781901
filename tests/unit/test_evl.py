"""EVL on open_clip's frozen vision tower: features, frozen backbone, zero-init temporal tables, frame order."""

import pytest
import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock

from tests.conftest import TINY
from vifi.models.evl import (
    EVL,
    EVLConfig,
    OpenVocabEVL,
    TemporalCrossAttention,
    backbone_features,
    relative_index,
)
from vifi.models.pretrained import build_clip
from vifi.models.vificlip import VideoCLIP

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FRAMES = 8
TEMPORAL = ("temporal_conv", "temporal_pos_embed", "temporal_cross_attention")


def _clip(seed: int = 0):
    torch.manual_seed(seed)
    return build_clip("vifi-tiny")


def _video(batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, FRAMES, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _config(**switches) -> EVLConfig:
    return EVLConfig(num_frames=FRAMES, **switches)


def _only(module: str | None) -> EVLConfig:
    """A config with one temporal module enabled (or none)."""
    return _config(**{name: name == module for name in TEMPORAL})


def _train_steps(model: torch.nn.Module, steps: int, lr: float = 4e-4) -> None:
    """A few AdamW steps with the EVL recipe's weight decay on random labels, offered every parameter."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    video, labels = _video(), torch.tensor([0, 2])
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(video), labels).backward()
        optimizer.step()
    model.eval()


def test_shapes_for_tiny_clip():
    clip, _ = _clip()
    closed = EVL(clip, num_classes=5, config=_config()).eval()
    feats = backbone_features(clip.visual, _video().flatten(0, 1), num_layers=4)
    assert len(feats) == 4
    # vifi-tiny: 32 px / patch 8 = 4x4 patches + CLS, then its width and heads.
    heads = (16, 17, TINY.heads, TINY.head_width)
    assert [tuple(x.shape) for x in feats[0]] == [(16, 17, TINY.width), heads, heads]
    assert all(x.dtype == torch.float32 for f in feats for x in f)
    assert closed(_video()).shape == (2, 5)
    assert closed.encode_query(_video()).shape == (2, TINY.joint)
    with pytest.raises(ValueError, match=r"expected \(B, 8, 3, H, W\)"):
        closed(_video()[:, :4])


def test_backbones_without_usable_qk_are_refused():
    clip, _ = _clip()
    with pytest.raises(ValueError, match=r"needs 1\.\.4 backbone blocks"):
        EVL(clip, num_classes=3, config=_config(num_layers=5))
    clip.visual.transformer.resblocks[2] = ResidualAttentionBlock(TINY.width, TINY.heads, batch_first=False)
    with pytest.raises(ValueError, match="block 2 is not a batch-first"):
        EVL(clip, num_classes=3, config=_config())


def test_relative_index_matches_offsets():
    idx = relative_index(2, 3)
    assert idx.shape == (6, 6) and int(idx.max()) == 3 * 5 - 1
    # Query patch (1, 2) (index 5) vs key patch (0, 0): offset (+1, +2) -> row (1+1)*5 + (2+2) = 14.
    assert idx[5, 0] == 14 and idx[0, 5] == 0 and idx[4, 4] == 1 * 5 + 2


def _tca_reference(tca: TemporalCrossAttention, q, k, grid) -> torch.Tensor:
    """Loop version of METHODS §7.1 step 3 for one video: `(T, L, C)`."""
    t_len, n_tok, _, d = q.shape
    out = torch.zeros(t_len, n_tok, tca.w_prev.shape[1])
    for t in range(t_len):
        for p in range(1, n_tok):
            for other, table in ((t - 1, tca.w_prev), (t + 1, tca.w_next)):
                if not 0 <= other < t_len:
                    continue
                attn = (torch.einsum("hd,khd->hk", q[t, p], k[other, 1:]) / d**0.5).softmax(-1).mean(0)
                (pr, pc), cols = divmod(p - 1, grid[1]), 2 * grid[1] - 1
                for key in range(n_tok - 1):
                    kr, kc = divmod(key, grid[1])
                    out[t, p] += attn[key] * table[(pr - kr + grid[0] - 1) * cols + pc - kc + grid[1] - 1]
    return out


def test_temporal_cross_attention_matches_a_loop_over_neighbouring_frames():
    grid = (2, 3)
    tca = TemporalCrossAttention(grid, width=4)
    torch.manual_seed(3)
    with torch.no_grad():
        tca.w_prev.normal_()
        tca.w_next.normal_()
    q, k = torch.randn(2, 3, 7, 2, 5).unbind(0)
    out = tca(q[None], k[None])[0].detach()
    assert not out[:, 0].any()
    torch.testing.assert_close(out, _tca_reference(tca, q, k, grid))


def test_backbone_frozen_and_unchanged_while_decoder_and_head_train():
    clip, _ = _clip()
    model = EVL(clip, num_classes=3, config=_config())
    before = {k: v.clone() for k, v in clip.state_dict().items()}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("decoder.", "head.")) for n in trainable)
    _train_steps(model, steps=1)
    model.train()
    assert not model.clip.training and model.decoder.training
    for key, value in clip.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in clip.parameters())
    # A key bias shifts every attention logit of a query equally, so softmax makes its gradient exactly zero
    # (round-off aside); it starts at zero, so weight decay leaves it there too.
    params = dict(model.named_parameters())
    unchanged = [n for n, v in trainable.items() if torch.equal(params[n].detach(), v)]
    assert all(n.endswith("attn.k_proj.bias") for n in unchanged)
    assert len(unchanged) < len(trainable) // 10


def test_captured_qk_equal_in_proj_of_ln1_input_and_reproduce_the_attention():
    """Recompute q/k from hooks on open_clip's own forward, and check the head split against MHA's maps."""
    clip, _ = _clip()
    visual = clip.visual.eval()
    frames = _video().flatten(0, 1)
    ln1_out, block_out = {}, {}
    blocks = visual.transformer.resblocks
    hooks = []
    for j, block in enumerate(blocks):
        hooks.append(block.ln_1.register_forward_hook(lambda m, i, o, j=j: ln1_out.__setitem__(j, o)))
        hooks.append(block.register_forward_hook(lambda m, i, o, j=j: block_out.__setitem__(j, o)))
    with torch.no_grad():
        visual(frames)
    for h in hooks:
        h.remove()
    feats = backbone_features(visual, frames, num_layers=2)
    c, heads = TINY.width, TINY.heads
    for feat, j in zip(feats, (2, 3), strict=True):
        block = blocks[j]
        x = ln1_out[j]
        w, b = block.attn.in_proj_weight, block.attn.in_proj_bias
        q = (x @ w[:c].t() + b[:c]).reshape(16, 17, heads, c // heads)
        k = (x @ w[c : 2 * c].t() + b[c : 2 * c]).reshape(16, 17, heads, c // heads)
        torch.testing.assert_close(feat.q, q)
        torch.testing.assert_close(feat.k, k)
        torch.testing.assert_close(feat.out, block_out[j])
        with torch.no_grad():
            _, maps = block.attn(x, x, x, need_weights=True, average_attn_weights=True)
        ours = torch.einsum("nqhd,nkhd->nhqk", feat.q / (c // heads) ** 0.5, feat.k).softmax(-1).mean(1)
        torch.testing.assert_close(ours, maps)


def test_zero_initialised_temporal_tables_contribute_nothing_at_step_zero():
    clip, _ = _clip()
    torch.manual_seed(2)
    full = EVL(clip, num_classes=3, config=_config()).eval()
    ablated = EVL(clip, num_classes=3, config=_config(temporal_pos_embed=False, temporal_cross_attention=False))
    missing, unexpected = ablated.load_state_dict(full.state_dict(), strict=False)
    assert not missing
    assert unexpected and all(".temporal_pos_embed" in k or ".cross_attention." in k for k in unexpected)
    assert not full.decoder.query.any()
    assert not any(full.state_dict()[k].any() for k in unexpected)
    with torch.no_grad():
        torch.testing.assert_close(full(_video()), ablated.eval()(_video()))
        # The temporal conv is not zero-initialised, so removing it does change the output.
        no_conv = EVL(clip, num_classes=3, config=_config(temporal_conv=False)).eval()
        no_conv.load_state_dict(full.state_dict(), strict=False)
        assert not torch.allclose(full(_video()), no_conv(_video()))


def _order_gap(model: torch.nn.Module, *args) -> float:
    video = _video()
    with torch.no_grad():
        return float((model(video, *args) - model(video.flip(1), *args)).abs().max())


def test_vificlip_mean_pooling_ignores_frame_order_but_evl_does_not():
    clip, tok = _clip()
    text = torch.randn(3, TINY.joint)
    assert _order_gap(VideoCLIP(clip, tok, "vifi").eval(), text) < 1e-5
    assert _order_gap(EVL(_clip()[0], num_classes=3, config=_config()).eval()) > 1e-3


@pytest.mark.parametrize("module", [None, *TEMPORAL])
def test_frame_order_sensitivity_comes_from_the_temporal_modules(module):
    """The decoder attends to a set of T·L tokens: without temporal modules time order is invisible to it.

    The conv is order-sensitive from the start; the zero-initialised position embedding and cross-attention
    tables become so once trained; nothing does when all three are off.
    """
    clip, _ = _clip()
    model = EVL(clip, num_classes=3, config=_only(module)).eval()
    # Order-blind means equal up to float summation order (below 1e-5); order-sensitive, a gap above that.
    assert (_order_gap(model) > 1e-5) == (module == "temporal_conv")
    _train_steps(model, steps=3, lr=1e-2)
    assert (_order_gap(model) > 1e-5) == (module is not None)


def test_hand_set_cross_attention_tables_make_the_output_order_sensitive():
    clip, _ = _clip()
    model = EVL(clip, num_classes=3, config=_only("temporal_cross_attention")).eval()
    assert _order_gap(model) < 1e-5
    with torch.no_grad():
        for block in model.decoder.blocks:
            block.cross_attention.w_prev.normal_()
    assert _order_gap(model) > 1e-3


def test_open_vocabulary_head_scores_any_class_list():
    clip, tok = _clip()
    model = OpenVocabEVL(clip, tok, _config(), "a photo of a {}.").eval()
    assert not model.text_trains
    assert all(n.startswith("decoder.") for n, p in model.named_parameters() if p.requires_grad)
    torch.testing.assert_close(model.tokenize(["red circle"]), tok(["a photo of a red circle."]))
    video = _video()
    few, many = ["red circle", "blue square"], ["green star", "red circle", "blue square", "moon", "tree"]
    with torch.no_grad():
        text_few, text_many = (model.encode_text(model.tokenize(names)) for names in (few, many))
        logits_few, logits_many = model(video, text_few), model(video, text_many)
        embedding = clip.visual.ln_post(model.encode_query(video)) @ clip.visual.proj
    assert logits_few.shape == (2, 2) and logits_many.shape == (2, 5)
    torch.testing.assert_close(logits_few, logits_many[:, 1:3])
    expected = clip.logit_scale.exp() * F.normalize(embedding, dim=-1) @ F.normalize(text_few, dim=-1).t()
    torch.testing.assert_close(logits_few, expected)
    assert model.encode_video(video).shape == (2, clip.text_projection.shape[1])
    model.train()
    F.cross_entropy(model(video, text_many), torch.tensor([1, 4])).backward()
    assert model.decoder.query.grad is not None and all(p.grad is None for p in clip.parameters())
