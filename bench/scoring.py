"""Scoring speed side by side on the same names: `dga predict`, the Python package in one
process, and Spark in local mode; then the Python package's cost per call.

    python bench/scoring.py [--names 1000000] [--dga PATH] [--spark local[2]]

Needs the `dga` binary (`cargo build --release -p dga`) and `pip install ./python pyspark`.
"""

import argparse
import csv
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--data", default=os.environ.get("DGA_DATA", REPO.parent / "shared/data/domains.csv.gz"))
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--dga", default=target / "release" / "dga")
    parser.add_argument("--spark", default="local[2]", help="Spark master; 'none' to skip")
    args = parser.parse_args()

    names = spread(read_names(args.data), args.names)
    cores = os.cpu_count()
    shown = os.path.relpath(args.data, REPO)
    print(f"{len(names):,} names spread over {shown}, {cores} cores\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "names.txt"
        listing.write_text("\n".join(names) + "\n")
        rows.append(("dga predict (CSV to a file)", timed(lambda: subprocess.run(
            [str(args.dga), "predict", str(listing), "-o", str(Path(tmp) / "out.csv")],
            check=True, capture_output=True))))

        from dga_detect import Detector

        detector = Detector()
        detector.score(names[:2000])
        rows.append(("dga_detect, one process (pyarrow.Table)", timed(lambda: detector.score(names))))
        if args.spark != "none":
            rows.append((f"dga_detect.spark, {args.spark} (noop sink)", spark_seconds(args.spark, listing)))

    print(f"{'':<44}{'seconds':>10}{'names/s':>12}{'vs predict':>12}")
    for label, seconds in rows:
        print(f"{label:<44}{seconds:>10.2f}{len(names) / seconds:>12,.0f}{rows[0][1] / seconds:>12.2f}")

    print("\nPython cost per call (same names, cut into calls of N)")
    print(f"{'N':>8}{'calls':>8}{'names/s':>12}{'ms per call':>14}")
    sample = names[::10]  # 100,000 of them, still spread over the file
    for size in (1, 10, 100, 1_000, 10_000, 100_000):
        calls = [sample[i:i + size] for i in range(0, min(len(sample), max(size * 20, 10_000)), size)][:2_000]
        seconds = timed(lambda: [detector.score(c) for c in calls])
        scored = sum(map(len, calls))
        print(f"{size:>8}{len(calls):>8}{scored / seconds:>12,.0f}{1e3 * seconds / len(calls):>14.3f}")


def read_names(path):
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [row["domain"] for row in csv.DictReader(f)]


def spread(names, n):
    """`n` names drawn evenly over the sorted file, repeated when the file has fewer."""
    step = len(names) / n
    return [names[int(i * step) % len(names)] for i in range(n)]


def timed(work):
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def spark_seconds(master, listing):
    """Wall time of a job that reads the names, scores them and drops the result."""
    from pyspark.sql import SparkSession

    from dga_detect.spark import score

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import dga_detect too
    spark = (SparkSession.builder.master(master).appName("dga_detect bench")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.text(str(listing))
    score(df.limit(1000), "value").write.format("noop").mode("overwrite").save()  # warm workers
    seconds = timed(lambda: score(df, "value").write.format("noop").mode("overwrite").save())
    spark.stop()
    return seconds


if __name__ == "__main__":
    sys.exit(main())
