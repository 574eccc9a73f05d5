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
