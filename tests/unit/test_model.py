"""ViFi-CLIP on open_clip: shapes, temporal pooling, trainable subsets and weight loading."""

import pytest
import torch
import torch.nn.functional as F

from vifi.models.pretrained import WeightsError, build_clip, load_weights, read_state_dict, save_weights
from vifi.models.vificlip import VideoCLIP


@pytest.fixture(scope="module")
def clip_and_tokenizer():
    torch.manual_seed(0)
    return build_clip("vifi-tiny")


def test_video_embedding_is_the_mean_of_unnormalised_frame_embeddings(clip_and_tokenizer):
    clip, tok = clip_and_tokenizer
    model = VideoCLIP(clip, tok, "vifi").eval()
    video = torch.randn(2, 3, 3, 32, 32)
    with torch.no_grad():
        pooled = model.encode_video(video)
        frames = torch.stack([clip.encode_image(video[:, i]) for i in range(3)], dim=1)
        assert pooled.shape == (2, clip.text_projection.shape[1])
        torch.testing.assert_close(pooled, frames.mean(dim=1))
        text = model.encode_text(model.tokenize(["red circle moving left", "blue square growing"]))
        logits = model(video, text)
    assert logits.shape == (2, 2)
    expected = clip.logit_scale.exp() * F.normalize(frames.mean(1), dim=-1) @ F.normalize(text, dim=-1).t()
    torch.testing.assert_close(logits, expected)


def test_frame_order_does_not_change_vifi_logits(clip_and_tokenizer):
    """Mean pooling is order-blind: the reason the temporal-order dataset defeats it."""
    clip, tok = clip_and_tokenizer
    model = VideoCLIP(clip, tok, "vifi").eval()
    video, text = torch.randn(1, 4, 3, 32, 32), torch.randn(3, clip.text_projection.shape[1])
    with torch.no_grad():
        torch.testing.assert_close(model(video, text), model(video.flip(1), text))


@pytest.mark.parametrize(
    ("method", "visual", "text", "scale"),
    [
        ("vifi", True, True, True),
        ("image", True, False, False),
        ("text", False, True, False),
        ("vanilla", False, False, False),
    ],
)
def test_trainable_subsets_follow_the_paper(method, visual, text, scale):
    clip, tok = build_clip("vifi-tiny")
    model = VideoCLIP(clip, tok, method)
    assert all(p.requires_grad == visual for p in clip.visual.parameters())
    assert all(p.requires_grad == text for p in clip.transformer.parameters())
    assert clip.text_projection.requires_grad == text and clip.positional_embedding.requires_grad == text
    assert clip.logit_scale.requires_grad == scale
    assert not clip.token_embedding.weight.requires_grad
    assert model.text_trains == text


def test_prompts_per_method(clip_and_tokenizer):
    clip, tok = clip_and_tokenizer
    vanilla, vifi = VideoCLIP(clip, tok, "vanilla"), VideoCLIP(clip, tok, "vifi")
    torch.testing.assert_close(vanilla.tokenize(["red circle"]), tok(["red circle"]))
    torch.testing.assert_close(vifi.tokenize(["red circle"]), tok(["a photo of a red circle."]))


def test_weights_round_trip_and_mismatch_is_named(tmp_path, clip_and_tokenizer):
    clip, _ = clip_and_tokenizer
    save_weights(clip, tmp_path / "w.pt", arch="vifi-tiny")
    other, _ = build_clip("vifi-tiny")
    load_weights(other, tmp_path / "w.pt")
    for key, value in clip.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value)
    state = read_state_dict(tmp_path / "w.pt")
    state.pop("ln_final.weight")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match=r"bad.pt.*1 missing \['ln_final.weight'\].*1 unexpected"):
        load_weights(other, tmp_path / "bad.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_code_and_truncated_files_are_refused(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match=r"evil\.pt: cannot be read as a weights-only"):
        read_state_dict(tmp_path / "evil.pt")
    torch.save({"w": torch.zeros(1000)}, tmp_path / "ok.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ok.pt").read_bytes()[:200])
    with pytest.raises(WeightsError, match=r"cut\.pt"):
        read_state_dict(tmp_path / "cut.pt")


def _tiny_clip():
    torch.manual_seed(1)
    return build_clip("vifi-tiny")[0].eval()


def _assert_same_weights(model, reference):
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_openai_state_dict_with_scalar_keys_loads(tmp_path):
    reference = _tiny_clip()
    state = dict(reference.state_dict())
    state.update(
        input_resolution=torch.tensor(32), context_length=torch.tensor(24), vocab_size=torch.tensor(49408)
    )
    torch.save(state, tmp_path / "openai_state.pt")
    model, _ = build_clip("vifi-tiny")
    load_weights(model, tmp_path / "openai_state.pt")
    _assert_same_weights(model, reference)


def test_open_clip_training_checkpoint_with_module_prefix_loads(tmp_path):
    reference = _tiny_clip()
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save({"epoch": 3, "name": "run", "state_dict": state}, tmp_path / "epoch_3.pt")
    model, _ = build_clip("vifi-tiny")
    load_weights(model, tmp_path / "epoch_3.pt")
    _assert_same_weights(model, reference)


def test_torchscript_archive_loads_without_calling_its_code(tmp_path):
    """OpenAI ships TorchScript archives; their parameters load under open_clip's names."""
    reference = _tiny_clip()
    traced = torch.jit.trace_module(reference, {"encode_image": torch.randn(1, 3, 32, 32)}, check_trace=False)
    torch.jit.save(traced, str(tmp_path / "ViT-tiny.pt"))
    model, _ = build_clip("vifi-tiny")
    load_weights(model, tmp_path / "ViT-tiny.pt")
    _assert_same_weights(model, reference)


def test_checkpoint_of_another_architecture_is_named(tmp_path):
    other = _tiny_clip()
    torch.save(other.visual.state_dict(), tmp_path / "visual_only.pt")
    model, _ = build_clip("vifi-tiny")
    with pytest.raises(WeightsError, match=r"visual_only\.pt: does not match the architecture"):
        load_weights(model, tmp_path / "visual_only.pt")
