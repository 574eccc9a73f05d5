#!/usr/bin/env python3
"""Trains the seed-size character transformer in PyTorch on batches written by
`trainer bench-train --write-batches DIR`, and prints one JSON line of throughput.

The model follows the published description of the seed system, not our Rust code: character
and position embeddings, 4 pre-norm encoder layers (d 256, 8 heads, feed-forward 1024, GELU,
dropout 0.1), the class token's output through a final layer norm into 2 logits; AdamW with
weight decay 0.01 and gradient clipping at norm 1, as `trainer` trains. Each batch is padded to
its longest name and padding is masked out of attention.
"""

import argparse
import json
import time

import torch
from torch import nn

VOCAB = 3 + len("abcdefghijklmnopqrstuvwxyz0123456789-_.")  # PAD 0, CLS 1, UNK 2, then the alphabet
MAX_LEN = 64


class CharTransformer(nn.Module):
    def __init__(self, d_model=256, heads=8, d_ff=1024, layers=4, dropout=0.1):
        super().__init__()
        self.characters = nn.Embedding(VOCAB, d_model)
        self.positions = nn.Embedding(MAX_LEN, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, d_ff, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 2)

    def forward(self, tokens, padding):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.characters(tokens) + self.positions(positions)
        x = self.encoder(x, src_key_padding_mask=padding)
        return self.head(self.norm(x[:, 0]))


def read_batches(path):
    """Each line: names separated by `|`, each `label:id id id`."""
    batches = []
    with open(path) as lines:
        for line in lines:
            names = [name.split(":") for name in line.rstrip("\n").split("|")]
            labels = torch.tensor([int(label) for label, _ in names])
            ids = [[int(i) for i in tokens.split()] for _, tokens in names]
            longest = max(len(seq) for seq in ids)
            tokens = torch.zeros((len(ids), longest), dtype=torch.long)
            for row, seq in enumerate(ids):
                tokens[row, : len(seq)] = torch.tensor(seq)
            batches.append((tokens, tokens == 0, labels))
    return batches


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", required=True)
    parser.add_argument("--warmup-steps", type=int, default=30)
    parser.add_argument("--precision", choices=["f32", "bf16", "f16"], default="f32")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--phase-steps",
        type=int,
        default=0,
        help="steps run after the timed ones with the GPU synchronised after each phase",
    )
    args = parser.parse_args()

    batches = read_batches(args.batches)
    device = torch.device("cuda")
    torch.manual_seed(42)
    started = time.perf_counter()
    model = CharTransformer().to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    autocast = {"bf16": torch.bfloat16, "f16": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(enabled=args.precision == "f16")
    loss_fn = nn.CrossEntropyLoss()

    def step(tokens, padding, labels, queued=lambda phase: None):
        """One training step; `queued(phase)` is called once each phase's work is queued."""
        tokens = tokens.to(device, non_blocking=True)
        padding = padding.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        queued("upload")
        with torch.autocast("cuda", dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = loss_fn(model(tokens, padding), labels)
        queued("forward")
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        queued("backward")
        scaler.unscale_(optimiser)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimiser)
        scaler.update()
        queued("optimiser")
        return loss

    first_step_s = None
    timed_from = None
    for i, (tokens, padding, labels) in enumerate(batches):
        if i == args.warmup_steps:
            torch.cuda.synchronize()
            timed_from = time.perf_counter()
        loss = step(tokens, padding, labels)
        if i == 0:
            torch.cuda.synchronize()
            first_step_s = time.perf_counter() - started
    torch.cuda.synchronize()
    if not torch.isfinite(loss):
        raise SystemExit("the loss is not finite")
    timed = len(batches) - args.warmup_steps
    seconds = time.perf_counter() - timed_from

    # Batches are packed before training here, so the packing phase costs nothing per step.
    phases_ms = {"pack": 0.0, "upload": 0.0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0}
    for i in range(args.phase_steps):
        torch.cuda.synchronize()
        since = [time.perf_counter()]

        def queued(phase):
            torch.cuda.synchronize()
            now = time.perf_counter()
            phases_ms[phase] += (now - since[0]) * 1e3 / args.phase_steps
            since[0] = now

        step(*batches[i % len(batches)], queued)
    extra = {"phases_ms": phases_ms} if args.phase_steps else {}
    print(
        json.dumps(
            {
                "implementation": "pytorch",
                "backend": f"torch {torch.__version__} eager",
                "precision": args.precision,
                "batch": len(batches[0][2]),
                "first_step_s": first_step_s,
                "samples_per_s": timed * len(batches[0][2]) / seconds,
                "steps": timed,
                **extra,
            }
        )
    )


if __name__ == "__main__":
    main()
