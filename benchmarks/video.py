"""Video and images as sequences: three figures, each beside a baseline measured in the same run.

1. Moving Fashion-MNIST 10 -> 10 (``rnnkit.data.moving_fashion_mnist``; training clips from
   the training images, test clips from the test images): ``rnnkit train video`` (ConvLSTM
   encoder-forecaster) for ``--time-limit``, then MSE per frame and SSIM on the test clips beside
   copy-last-frame on the same clips and the published OpenSTL figures (trained for hours on
   GPUs). Goal: MSE at least 40% below copy-last-frame. Peak RSS of this phase.
2. Row-wise Fashion-MNIST (28 steps of 28 pixels): ``rnnkit train classify --images rows`` for
   ``--classify-time-limit``, test accuracy on the 10,000 test images. Goal: >= 90%.
3. ConvLSTM/ConvGRU speed: ``rnnkit.RNN("conv_lstm")`` forward and backward against a plain
   PyTorch ConvLSTM loop (one convolution of ``[x_t, h]`` per step) on the same shapes and
   weights, and ``conv_gru`` against a plain ConvGRU loop (the input and the recurrent
   convolution per step). Passes alternate; medians of CPU time and wall time. Goal: >= 1.0x.
   rnnkit runs its default (input convolution per step, the fused gate kernel), the same as
   torch operations only (``RNNKIT_CONV_FUSED=0``, the code before the kernel) and batched.

    OMP_NUM_THREADS=1 python benchmarks/video.py                       # 30 + 10 minutes
    OMP_NUM_THREADS=1 python benchmarks/video.py --time-limit 5m --classify-time-limit 2m
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.cpu import bf16_flags
from rnnkit.data.moving_fashion_mnist import generate
from rnnkit.tasks import classify, video

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_mnist"
#: OpenSTL's Moving Fashion-MNIST table: MSE per frame, SSIM
PUBLISHED = {"ConvLSTM": (28.87, 0.879), "PredRNN": (22.01, 0.909)}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def frame_prediction(args: argparse.Namespace, work: Path) -> None:
    print("== Moving Fashion-MNIST, 10 frames in, 10 out", flush=True)
    np.save(work / "train.npy", generate(DATA, args.train_clips, seed=0).frames)  # memory-mapped
    np.savez(work / "val.npz", frames=generate(DATA, 64, split="test", seed=2).frames)
    np.savez(work / "test.npz", frames=generate(DATA, args.test_clips, split="test", seed=1).frames)
    options = video.VideoOptions(
        data=work / "train.npy",
        val=work / "val.npz",
        out=work / "video_run",
        hidden=args.hidden,
        layers=2,
        kernel_size=args.kernel_size,
        patch=4,
        batch_size=8,
        lr=2e-3,
        teacher_forcing=0.0,  # free running from the start: the forecaster learns from its own
        time_limit=args.time_limit,
        epochs=None,
        eval_every=100,
        progress="plain",
        device="cpu",
        log_every=50,
    )
    start = time.perf_counter()
    run = video.train(options)
    seconds = time.perf_counter() - start
    result = video.evaluate(run, work / "test.npz")
    mse, ssim = result["mse"], result["ssim"]
    copy_mse, copy_ssim = result["copy_last_mse"], result["copy_last_ssim"]
    print(f"trained {seconds / 60:.1f} min; test clips: {result['clips']}")
    print(f"{'':24} {'MSE/frame':>10} {'SSIM':>7}")
    print(f"{'rnnkit ConvLSTM':24} {mse:10.2f} {ssim:7.3f}")
    print(f"{'copy last frame':24} {copy_mse:10.2f} {copy_ssim:7.3f}")
    for name, (p_mse, p_ssim) in PUBLISHED.items():
        print(f"{'OpenSTL ' + name + ' (GPU)':24} {p_mse:10.2f} {p_ssim:7.3f}")
    reduction = 1 - mse / copy_mse
    verdict = "met" if reduction >= 0.4 else "missed"
    print(f"MSE {reduction:.0%} below copy-last-frame (goal >= 40%: {verdict})")
    print("MSE per future step:", " ".join(f"{v:.1f}" for v in result["mse_by_step"]))
    print(f"peak RSS after training and evaluation: {peak_rss_mib():.0f} MiB", flush=True)


def row_wise_classification(args: argparse.Namespace, work: Path) -> None:
    print("== Row-wise Fashion-MNIST (28 steps of 28 pixels)", flush=True)
    options = classify.ClassifyOptions(
        images="rows",
        data=DATA / "train-images-idx3-ubyte.gz",
        out=work / "rows_run",
        val_fraction=0.05,
        hidden=128,
        bidirectional=True,
        pooling="last",
        dropout=0.1,
        batch_size=128,
        lr=2e-3,
        schedule="cosine",  # over the time limit: the last minutes refine at a low rate
        time_limit=args.classify_time_limit,
        epochs=None,
        progress="plain",
        device="cpu",
        log_every=100,
    )
    start = time.perf_counter()
    run = classify.train(options)
    seconds = time.perf_counter() - start
    result = classify.evaluate(run, DATA / "t10k-images-idx3-ubyte.gz")
    accuracy = result["accuracy"]
    verdict = "met" if accuracy >= 0.9 else "missed"
    print(f"trained {seconds / 60:.1f} min; test accuracy {accuracy:.4f} (goal >= 0.90: {verdict})")
    print(f"macro-F1 {result['macro_f1']:.4f}; chance 0.10", flush=True)


def plain_conv_lstm(x, w_ih, w_hh, bias, padding):
    """The textbook ConvLSTM loop: per step, one convolution of ``[x_t, h]``."""
    batch, _, _, height, width = x.shape
    hidden = w_hh.shape[1]
    weight = torch.cat([w_ih, w_hh], dim=1)
    h = x.new_zeros(batch, hidden, height, width)
    c = torch.zeros_like(h)
    outs = []
    for x_t in x.unbind(1):
        i, f, g, o = F.conv2d(torch.cat([x_t, h], 1), weight, bias, padding=padding).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        outs.append(h)
    return torch.stack(outs, 1)


def plain_conv_gru(x, w_ih, w_hh, b_ih, b_hh, padding):
    """The textbook ConvGRU loop with the reset gate after the recurrent convolution (the cell's
    equations): per step, the input convolution of ``x_t`` and the recurrent one of ``h``."""
    batch, _, _, height, width = x.shape
    h = x.new_zeros(batch, w_hh.shape[1], height, width)
    outs = []
    for x_t in x.unbind(1):
        x_r, x_z, x_n = F.conv2d(x_t, w_ih, b_ih, padding=padding).chunk(3, 1)
        h_r, h_z, h_n = F.conv2d(h, w_hh, b_hh, padding=padding).chunk(3, 1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = (x_n + r * h_n).tanh()
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, 1)


#: (B, T, C_in, C, H = W, kernel) of the speed test
SPEED_SHAPES = [(8, 20, 16, 32, 16, 3), (8, 20, 16, 64, 16, 5)]


def step_speed(repeats: int) -> None:
    print(
        "== ConvLSTM/ConvGRU forward + backward, rnnkit.RNN vs a plain PyTorch loop\n"
        f"   {repeats} passes each, the four taking turns in a rotating order; medians of the "
        "thread's CPU time (one thread's work, robust to other processes on the cores) and of "
        "the wall time; rnnkit per step (the default input_conv), per step unfused (torch "
        "operations only, RNNKIT_CONV_FUSED=0: no fused C kernel, no skipped first "
        "convolution) and batched",
        flush=True,
    )
    ratios = []
    for cell_name in ("conv_lstm", "conv_gru"):
        for shape in SPEED_SHAPES:
            ratios.append(time_one_shape(cell_name, *shape, repeats=repeats))
    verdict = "met" if min(ratios) >= 1.0 else "missed"
    print(f"lowest CPU-time ratio {min(ratios):.2f}x (goal >= 1.0x on every shape: {verdict})")


def medians(
    runs: dict[str, Callable[[], None]],
    repeats: int,
    before_each: Callable[[], object] = lambda: None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Run each of ``runs`` once to warm up, then ``repeats`` times, taking turns in a rotating
    order (none always first or last); the medians of the thread's CPU time and of the wall
    time, in ms, by name."""
    for fn in runs.values():
        fn()
    names = list(runs)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    for index in range(repeats):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            before_each()
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            runs[name]()
            cpu[name].append(time.thread_time() - start_cpu)
            wall[name].append(time.perf_counter() - start_wall)
    return (
        {name: float(np.median(v)) * 1000 for name, v in cpu.items()},
        {name: float(np.median(v)) * 1000 for name, v in wall.items()},
    )


def time_one_shape(
    cell_name: str,
    batch: int,
    steps: int,
    channels: int,
    hidden: int,
    size: int,
    kernel: int,
    *,
    repeats: int,
) -> float:
    """Time ``rnnkit.RNN(cell_name)`` (input convolution per step, with and without the fused
    kernel, and batched) against the plain loop with the same weights; check first that all
    compute the same outputs; then inference (no grad) the same way. Returns the plain /
    per-step ratio of the training CPU-time medians."""
    torch.manual_seed(0)
    rnns = {
        mode: rnnkit.RNN(
            cell_name,
            channels * size * size,
            hidden,
            image_size=size,
            kernel_size=kernel,
            input_conv=mode,
        )  # fmt: skip
        for mode in ("per_step", "batched")
    }
    rnns["batched"].load_state_dict(rnns["per_step"].state_dict())
    cell = rnns["per_step"].cells[0]
    x = torch.randn(batch, steps, channels, size, size)

    def reference() -> torch.Tensor:
        if cell_name == "conv_lstm":
            bias = cell.bias_ih + cell.bias_hh
            return plain_conv_lstm(x, cell.weight_ih, cell.weight_hh, bias, kernel // 2)
        return plain_conv_gru(
            x, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, kernel // 2
        )

    def ours(mode: str, fused: bool = True, train: bool = True) -> Callable[[], None]:
        def run() -> None:
            os.environ["RNNKIT_CONV_FUSED"] = "1" if fused else "0"
            try:
                with torch.set_grad_enabled(train):
                    out, _ = rnns[mode](x.flatten(2))
                if train:
                    out.sum().backward()
            finally:
                os.environ.pop("RNNKIT_CONV_FUSED")

        return run

    def plain() -> None:
        reference().sum().backward()

    def plain_inference() -> None:
        with torch.no_grad():
            reference()

    with torch.no_grad():
        for rnn in rnns.values():
            torch.testing.assert_close(rnn(x.flatten(2))[0].unflatten(2, (hidden, size, size)),
                                       reference(), rtol=1e-4, atol=1e-5)  # fmt: skip
    runs = {
        "plain": plain,
        "per_step": ours("per_step"),
        "unfused": ours("per_step", fused=False),
        "batched": ours("batched"),
    }
    cpu_ms, wall_ms = medians(
        runs, repeats, before_each=lambda: [r.zero_grad() for r in rnns.values()]
    )
    inference = {
        "plain": plain_inference,
        "per_step": ours("per_step", train=False),
        "unfused": ours("per_step", fused=False, train=False),
    }
    infer_ms, _ = medians(inference, repeats)
    print(
        f"{cell_name:9} B={batch} T={steps} C_in={channels} C={hidden} {size}x{size} "
        f"k={kernel}: CPU plain {cpu_ms['plain']:.0f} ms, per step {cpu_ms['per_step']:.0f} "
        f"ms ({cpu_ms['plain'] / cpu_ms['per_step']:.2f}x), unfused {cpu_ms['unfused']:.0f} ms "
        f"({cpu_ms['plain'] / cpu_ms['unfused']:.2f}x), batched {cpu_ms['batched']:.0f} ms "
        f"({cpu_ms['plain'] / cpu_ms['batched']:.2f}x); wall per step "
        f"{wall_ms['plain'] / wall_ms['per_step']:.2f}x, batched "
        f"{wall_ms['plain'] / wall_ms['batched']:.2f}x\n"
        f"{'':9} inference (no grad): CPU plain {infer_ms['plain']:.0f} ms, per step "
        f"{infer_ms['per_step']:.0f} ms ({infer_ms['plain'] / infer_ms['per_step']:.2f}x), "
        f"unfused {infer_ms['unfused']:.0f} ms ({infer_ms['plain'] / infer_ms['unfused']:.2f}x)",
        flush=True,
    )
    return cpu_ms["plain"] / cpu_ms["per_step"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", default="30m", help="Training time of the video model.")
    parser.add_argument("--classify-time-limit", default="10m", help="Row-wise training time.")
    parser.add_argument("--train-clips", type=int, default=4000)
    parser.add_argument("--test-clips", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=32, help="ConvLSTM state channels.")
    parser.add_argument("--kernel-size", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15, help="Timed passes of the speed test.")
    parser.add_argument("--parts", default="predict,rows,speed")
    parser.add_argument("--out", type=Path, default=None, help="Keep the runs here.")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"{DATA} is missing; the benchmark needs the shared Fashion-MNIST files.")
        return 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU flags: {bf16_flags()}"
    )
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        work = args.out or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        if "speed" in parts:
            step_speed(args.repeats)
        if "predict" in parts:
            frame_prediction(args, work)
        if "rows" in parts:
            row_wise_classification(args, work)
    print(f"peak RSS of the whole benchmark: {peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
