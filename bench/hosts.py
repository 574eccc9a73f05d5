"""Host judgement side by side on one simulated day of a network's DNS log: `dga monitor`,
`Detector().hosts` in one process, and `spark.hosts` in local mode; each one's alerts are
checked against `monitor`'s.

    python bench/hosts.py [--clients 200] [--busy 4] [--hours 24] [--spark local[2]]

The day comes from `dga bench-network --write-log` (ordinary and busy clients looking up names
a large resolver answers, infected hosts among them). Needs the `dga` binary
(`cargo build --release -p dga`) and `pip install "./python[spark]"`.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--busy", type=int, default=4)
    parser.add_argument("--busiest-qps", type=float, default=100.0)
    parser.add_argument("--hours", type=float, default=24.0)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--dga", default=target / "release" / "dga")
    parser.add_argument("--spark", default="local[2]", help="Spark master; 'none' to skip")
    args = parser.parse_args()
    cores = os.cpu_count()

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "dns.log"
        subprocess.run(
            [str(args.dga), "bench-network", "--clients", str(args.clients), "--busy",
             str(args.busy), "--busiest-qps", str(args.busiest_qps), "--hours", str(args.hours),
             "--write-log", str(log)],
            cwd=REPO, check=True, capture_output=True,
        )
        table = read_log(log)
        queries = table.num_rows
        print(f"{queries:,} queries of {len(set(table['client'].to_pylist()))} clients over "
              f"{args.hours:g} h (dga bench-network --clients {args.clients} --busy {args.busy} "
              f"--busiest-qps {args.busiest_qps:g}), {cores} cores\n")

        rows = []
        started = time.perf_counter()
        out = subprocess.run(
            [str(args.dga), "monitor", "--no-follow", "--from-start", str(log)],
            check=True, capture_output=True, text=True,
        )
        rows.append(("dga monitor", time.perf_counter() - started, cores, "-"))
        expected = [json.loads(line) for line in out.stdout.splitlines()]
        for alert in expected:
            alert.pop("ts", None)
            alert.pop("source", None)

        from dga_detect import Detector

        started = time.perf_counter()
        alerts = Detector().hosts(table)
        seconds = time.perf_counter() - started
        same = [json.loads(a) for a in alerts["alert"].to_pylist()] == expected
        rows.append(("Detector().hosts, one process", seconds, cores, "yes" if same else "NO"))

        if args.spark != "none":
            seconds, passes, same = spark_run(args.spark, log, expected)
            workers = spark_cores(args.spark, cores)
            rows.append((f"spark.hosts, {args.spark}, {passes} passes", seconds, workers,
                         "yes" if same else "NO"))

    print(f"{len(expected)} alerts from dga monitor\n")
    print(f"{'':<40}{'seconds':>9}{'queries/s':>12}{'cores':>7}{'per core':>11}"
          f"{'core-s per 1M':>15}{'vs monitor':>12}{'same alerts':>13}")
    for label, seconds, used, same in rows:
        print(f"{label:<40}{seconds:>9.1f}{queries / seconds:>12,.0f}{used:>7}"
              f"{queries / seconds / used:>11,.0f}{seconds * used / queries * 1e6:>15.1f}"
              f"{rows[0][1] / seconds:>12.2f}{same:>13}")


def read_log(path):
    """The simulated Zeek log as a pyarrow Table (ts, client, query, rcode)."""
    import pyarrow.csv as pv

    header = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            header += 1
    return pv.read_csv(
        path,
        read_options=pv.ReadOptions(skip_rows=header, column_names=["ts", "client", "query", "rcode"]),
        parse_options=pv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pv.ConvertOptions(
            column_types={"ts": "float64", "client": "string", "query": "string", "rcode": "string"}
        ),
    )


def spark_cores(master, cores):
    if master.startswith("local[") and master[6:-1].isdigit():
        return int(master[6:-1])
    return cores


def spark_run(master, log, expected):
    """Seconds `spark.hosts` takes on the log read by Spark, its passes, and whether its alerts
    equal `expected`."""
    from pyspark.sql import SparkSession

    from dga_detect.spark import hosts

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master)
        .appName("dga_detect hosts bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("dga_detect.spark")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    df = spark.read.csv(
        str(log), sep="\t", comment="#", schema="ts double, client string, query string, rcode string"
    )
    started = time.perf_counter()
    alerts = hosts(df).collect()
    seconds = time.perf_counter() - started
    spark.stop()
    passes = next((m.split(" in ")[1].split()[0] for m in messages if "settled" in m), "?")
    return seconds, passes, [json.loads(a.alert) for a in alerts] == expected


if __name__ == "__main__":
    main()
