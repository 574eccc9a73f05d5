"""What the tests share: the repository, the `dga` binary to compare with, and real names."""

import csv
import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


@pytest.fixture(scope="session")
def dga_bin() -> Path:
    """The `dga` command built from this checkout (built here when missing)."""
    path = Path(os.environ.get("DGA_BIN", _target_dir() / "release" / "dga"))
    if "DGA_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "-p", "dga"], cwd=REPO, check=True)
    assert path.exists(), f"no dga binary at {path}"
    return path


@pytest.fixture(scope="session")
def shared_names():
    """Every name of the shared labelled data, in file order."""
    path = Path(os.environ.get("DGA_DATA", REPO.parent / "shared" / "data" / "domains.csv.gz"))
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return [row["domain"] for row in csv.DictReader(f)]


def sample(names, n):
    """`n` names spread evenly over `names` (the file is sorted, so this mixes its kinds)."""
    step = max(1, len(names) // n)
    return names[::step][:n]


def predict(dga_bin, names):
    """`dga predict`'s CSV rows for `names`, as dicts."""
    out = subprocess.run(
        [str(dga_bin), "predict"],
        input="\n".join(names) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return list(csv.DictReader(io.StringIO(out.stdout)))


def neutralised(text):
    """A text cell as the CSV writes it (spreadsheet formulas quoted)."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text or ""


def assert_rows_match(rows, expected):
    """Every verdict row equals `dga predict`'s row for the same name."""
    assert len(rows) == len(expected)
    for i, (row, want) in enumerate(zip(rows, expected)):
        where = f"row {i} ({want['input']!r})"
        assert neutralised(row["input"]) == want["input"], where
        for column in ("domain", "registrable_domain", "risk", "error", "allowed", "family",
                       "rule", "set_aside"):
            assert neutralised(row[column]) == want[column], f"{where}: {column}"
        if want["p_dga"]:
            assert abs(row["p_dga"] - float(want["p_dga"])) <= 1e-5, where
            assert abs(row["logit"] - float(want["logit"])) <= 2e-3, where
        else:
            assert row["p_dga"] is None, where
        known = {"true": True, "false": False, "": None}[want["suffix_known"]]
        assert row["suffix_known"] == known, where


@pytest.fixture(scope="session")
def spark():
    """A local Spark session on two cores, for the tests that need one (skipped without pyspark)."""
    pytest.importorskip("pyspark", reason="pip install pyspark (and Java 17) to run")
    from pyspark.sql import SparkSession

    # Spark's Python workers must run this interpreter, which has the package installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("dga_detect tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
    session.stop()
