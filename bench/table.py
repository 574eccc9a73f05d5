#!/usr/bin/env python3
"""Renders bench/gpu.sh's results (JSON lines) as the markdown table in bench/README.md."""

import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("| implementation | backend | precision | batch | samples/s | first step, s | peak GPU MiB | note |")
print("|---|---|---|---:|---:|---:|---:|---|")
for r in rows:
    print(
        f"| {r['implementation']} | {r['backend']} | {r['precision']} | {r['batch']} "
        f"| {r['samples_per_s']:,.0f} | {r['first_step_s']:.1f} | {r['peak_gpu_mib'] or '-'} "
        f"| {r.get('note', '')} |"
    )
best = {}
for r in rows:
    impl = r["implementation"]
    if impl not in best or r["samples_per_s"] > best[impl]["samples_per_s"]:
        best[impl] = r
if {"trainer", "pytorch"} <= best.keys():
    t, p = best["trainer"], best["pytorch"]
    print()
    print(
        f"trainer/pytorch throughput ratio: {t['samples_per_s'] / p['samples_per_s']:.2f} "
        f"(trainer {t['precision']} batch {t['batch']}, pytorch {p['precision']} batch {p['batch']})"
    )

phased = [r for r in rows if r.get("phases_ms")]
if phased:
    phases = ["pack", "upload", "forward", "backward", "optimiser"]
    print()
    print("Where a step's time goes, ms per step, the GPU synchronised after each phase")
    print("(so the phases cannot overlap and their sum exceeds the pipelined step):")
    print()
    print("| implementation | precision | batch | " + " | ".join(phases) + " | sum | pipelined step |")
    print("|---|---|---:|" + "---:|" * (len(phases) + 2))
    for r in phased:
        ms = [r["phases_ms"][p] for p in phases]
        step = 1e3 * r["batch"] / r["samples_per_s"]
        print(
            f"| {r['implementation']} | {r['precision']} | {r['batch']} | "
            + " | ".join(f"{v:.2f}" for v in ms)
            + f" | {sum(ms):.2f} | {step:.2f} |"
        )
