"""The video models: patching is exact, teacher forcing's one-call path equals the step loop,
free running equals feeding predictions back by hand, padding never leaks into a clip's label."""

import torch
import torch.nn.functional as F

from rnnkit.models.video import ClipClassifier, FrameEncoder, FramePredictor


def _predictor():
    torch.manual_seed(0)
    return FramePredictor(1, (8, 8), patch=2, hidden_size=3, num_layers=2, kernel_size=3).double()


def test_patches_round_trip():
    model = _predictor()
    frames = torch.rand(2, 3, 1, 8, 8, dtype=torch.float64)
    grid = model.to_grid(frames).view(6, 4, 4, 4)
    back = F.pixel_shuffle(grid, 2).view_as(frames)
    torch.testing.assert_close(back, frames)


def test_teacher_forcing_in_one_call_equals_the_step_loop():
    model = _predictor()
    context = torch.rand(2, 4, 1, 8, 8, dtype=torch.float64)
    future = torch.rand(2, 3, 1, 8, 8, dtype=torch.float64)
    one_call = model(context, future, teacher_forcing=1.0)
    # a ratio just under 1 takes the step loop; every draw still picks the truth
    looped = model(context, future, teacher_forcing=1.0 - 1e-12)
    torch.testing.assert_close(one_call, looped)


def test_free_running_feeds_each_prediction_back():
    model = _predictor()
    context = torch.rand(1, 4, 1, 8, 8, dtype=torch.float64)
    free = model(context, steps=3)
    # by hand: the teacher-forced forecast whose "truth" is the model's own predictions
    forced = model(context, free.detach(), teacher_forcing=1.0)
    torch.testing.assert_close(free, forced)
    assert free.min() >= 0 and free.max() <= 1


def test_clip_classifier_ignores_padding_and_rebuilds_from_config():
    torch.manual_seed(1)
    model = ClipClassifier(3, 1, encoder_channels=(4,), features=6, hidden_size=5).eval()
    clip = torch.rand(1, 4, 1, 16, 16)
    padded = torch.cat([clip, torch.rand(1, 3, 1, 16, 16) * 9], dim=1)
    alone = model(clip)
    torch.testing.assert_close(model(padded, torch.tensor([4])), alone)
    again = ClipClassifier.from_config(model.config())
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again.eval()(clip), alone)


def test_frame_encoder_is_applied_to_each_frame_alone():
    torch.manual_seed(2)
    encoder = FrameEncoder(3, (4, 8), features=5)
    frames = torch.rand(2, 3, 3, 20, 20)
    out = encoder(frames)
    torch.testing.assert_close(out[1, 2], encoder(frames[1:2, 2:3])[0, 0])


def test_a_clip_classifier_written_before_the_cnn_was_shared_loads(tmp_path):
    """Old runs stored the frame CNN as ``encoder.net.<i>.*``: that layout is rebuilt here from
    torch's own modules, saved, and loaded by ``load_weights`` into today's model."""
    from safetensors.torch import save_file

    from rnnkit.training.rundir import load_weights

    torch.manual_seed(3)
    old = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 8, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 16, 6),
    )
    model = ClipClassifier(3, 1, encoder_channels=(4, 8), features=6, hidden_size=5)
    tensors = {f"encoder.net.{name}": t for name, t in old.state_dict().items()}
    tensors |= {n: t for n, t in model.state_dict().items() if not n.startswith("encoder.")}
    path = tmp_path / "model.safetensors"
    save_file(tensors, path)
    loaded = load_weights(ClipClassifier.from_config(model.config()), path)
    frames = torch.rand(2, 3, 1, 20, 20)
    torch.testing.assert_close(loaded.encoder(frames), old(frames.flatten(0, 1)).view(2, 3, 6))
