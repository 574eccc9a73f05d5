"""Host judgement from Python and Spark gives `dga monitor`'s alerts on the same log.

The log is a simulated network (`dga bench-network --write-log`: ordinary and busy clients
looking up names a large resolver answers, infected hosts replaying real captures and held-out
families), plus one host that repeats an infected host's failed generated names, so that the
cross-client parts of the rule (popular names, the network's history, a campaign and the hosts
an alert shares names with) all take part.
"""

import json
import subprocess
import warnings

import pyarrow as pa
import pytest

from conftest import REPO

# The copy of an infected host's failed names, a quarter second after each.
PARTNER = "10.99.0.1"


def read_zeek(path):
    """A Zeek TSV dns.log's rows as (ts, client, query, rcode) tuples."""
    rows = []
    with open(path, encoding="utf-8") as f:
        fields = None
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            elif line and not line.startswith("#"):
                cell = dict(zip(fields, line.split("\t")))
                rows.append(
                    (float(cell["ts"]), cell["id.orig_h"], cell["query"], cell["rcode_name"])
                )
    return rows


def write_zeek(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("#separator \\x09\n#path\tdns\n#fields\tts\tid.orig_h\tquery\trcode_name\n")
        for ts, client, query, rcode in rows:
            f.write(f"{ts:.6f}\t{client}\t{query}\t{rcode}\n")


def monitor(dga_bin, path):
    """`dga monitor`'s alerts on a log read whole, without the fields that say where the line
    came from (`ts` as written, `source`)."""
    out = subprocess.run(
        [str(dga_bin), "monitor", "--no-follow", "--from-start", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    alerts = [json.loads(line) for line in out.stdout.splitlines()]
    for alert in alerts:
        alert.pop("ts", None)
        alert.pop("source", None)
    return alerts


@pytest.fixture(scope="module")
def network(tmp_path_factory, dga_bin):
    """The simulated network's log (path, rows in time order) and `monitor`'s alerts on it."""
    folder = tmp_path_factory.mktemp("network")
    base = folder / "base.log"
    subprocess.run(
        [str(dga_bin), "bench-network", "--clients", "30", "--busy", "2", "--busiest-qps", "20",
         "--hours", "2", "--start-hour", "13", "--write-log", str(base)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    rows = read_zeek(base)
    first = next(a for a in monitor(dga_bin, base) if a["kind"] == "host")
    names = {n["query"] for n in first["names"] if n["rcode"] == "NXDOMAIN"}
    assert len(names) >= 3, first
    copies = [
        (ts + 0.25, PARTNER, query, rcode)
        for ts, client, query, rcode in rows
        if client == first["client"] and query in names
    ]
    rows = sorted(rows + copies, key=lambda r: r[0])
    path = folder / "dns.log"
    write_zeek(path, rows)
    return path, rows, monitor(dga_bin, path)


def as_table(rows):
    ts, client, query, rcode = zip(*rows)
    return pa.table({"ts": ts, "client": client, "query": query, "rcode": rcode})


def alerts_of(table):
    return [json.loads(a) for a in table.column("alert").to_pylist()]


def test_the_log_exercises_every_part_of_the_rule(network):
    _, rows, expected = network
    kinds = [a["kind"] for a in expected]
    assert kinds.count("host") >= 5 and "campaign" in kinds, kinds
    assert any(PARTNER in a.get("shares_names_with", []) for a in expected)
    assert len({r[1] for r in rows}) > 30


def test_detector_hosts_equals_monitor(network):
    from dga_detect import ALERT_SCHEMA, Detector

    _, rows, expected = network
    table = Detector().hosts(as_table(rows))
    assert table.schema == ALERT_SCHEMA
    assert alerts_of(table) == expected
    assert table.column("kind").to_pylist() == [a["kind"] for a in expected]
    assert table.column("client").to_pylist() == [a.get("client") for a in expected]
    assert table.column("reason").to_pylist() == [a["reason"] for a in expected]


def test_spark_hosts_equals_monitor(network, spark):
    from dga_detect.spark import hosts

    _, rows, expected = network
    # Zeek's own column names, one of which reads as a field path unless quoted.
    zeek = as_table(rows).rename_columns(["ts", "id.orig_h", "query", "rcode_name"])
    # In the log's order, which breaks ties in time as `monitor`'s line order does.
    df = spark.createDataFrame(zeek)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alerts = hosts(df, client="id.orig_h", rcode="rcode_name").collect()
    assert not [w for w in caught if "did not settle" in str(w.message)]
    assert [json.loads(a.alert) for a in alerts] == expected
    assert [a.kind for a in alerts] == [a["kind"] for a in expected]

    # The same times as timestamps without a zone (TimestampNTZ), read as UTC whatever the
    # session's zone.
    from pyspark.sql import functions as F

    ntz = df.withColumn(
        "ts",
        F.expr(
            "timestampadd(MICROSECOND, CAST(round(ts * 1e6) AS BIGINT), "
            "TIMESTAMP_NTZ'1970-01-01 00:00:00')"
        ),
    )
    assert ntz.schema["ts"].dataType.typeName() == "timestamp_ntz"
    zone = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        alerts = hosts(ntz, client="id.orig_h", rcode="rcode_name").collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert [json.loads(a.alert) for a in alerts] == expected


def test_pandas_and_polars_tables_and_timestamps_give_the_same_alerts(network):
    from dga_detect import Detector

    _, rows, _ = network
    detector = Detector()
    table = as_table(rows[:60_000])
    expected = alerts_of(detector.hosts(table))
    assert expected, "the first part of the log raises alerts"
    assert alerts_of(detector.hosts(table.to_pandas())) == expected
    micros = pa.array([round(t * 1e6) for t in table.column("ts").to_pylist()])
    stamped = table.set_column(0, "ts", micros.cast(pa.timestamp("us")))
    assert alerts_of(detector.hosts(stamped)) == expected
    as_text = table.set_column(0, "ts", pa.array([f"{t:.6f}" for t in table["ts"].to_pylist()]))
    assert alerts_of(detector.hosts(as_text)) == expected
    polars = pytest.importorskip("polars")
    assert alerts_of(detector.hosts(polars.from_arrow(table))) == expected


def test_a_zeek_log_read_as_text_gives_monitors_alerts(dga_bin, tmp_path):
    """Zeek's TSV marks a field with no value `-`: read as text, as from a log whose sensor saw
    only the queries, `-` answer codes mean an unknown outcome, as they do to `monitor` (read as
    a code, they would count as answered and the infected host would not be alerted)."""
    import gzip

    from dga_detect import Detector

    path = REPO.parent / "shared/data/infected/bedep-mta-2015-10-12-angler.from-pcap.log.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        fields = None
        cells = []
        for line in f.read().splitlines():
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            elif line and not line.startswith("#"):
                cells.append(dict(zip(fields, line.split("\t"))))
    rows = [(float(c["ts"]), c["id.orig_h"], c["query"], "-") for c in cells]
    log = tmp_path / "queries-only.log"
    write_zeek(log, rows)
    expected = monitor(dga_bin, log)
    assert [a["client"] for a in expected] == ["192.168.122.31"], expected
    table = pa.table(
        {
            "ts": [f"{r[0]:.6f}" for r in rows],
            "id.orig_h": [r[1] for r in rows],
            "query": [r[2] for r in rows],
            "rcode_name": [r[3] for r in rows],
        }
    )
    alerts = Detector().hosts(table, client="id.orig_h", rcode="rcode_name")
    assert alerts_of(alerts) == expected


def test_bad_rows_are_skipped_and_said_and_bad_columns_refused():
    from dga_detect import Detector

    detector = Detector()
    table = pa.table(
        {
            "ts": [1.0, None, 3.0, 4.0],
            "client": ["10.0.0.1", "10.0.0.1", None, "10.0.0.1"],
            "query": ["example.com", "example.org", "example.net", None],
            "rcode": ["NOERROR", None, "NXDOMAIN", None],
        }
    )
    with pytest.warns(UserWarning, match="3 rows"):
        assert detector.hosts(table).num_rows == 0
    with pytest.raises(ValueError, match="no column `id.orig_h`"):
        detector.hosts(table, client="id.orig_h")
    with pytest.warns(UserWarning, match="3 rows"):
        assert detector.hosts(table.drop_columns(["rcode"]), rcode=None).num_rows == 0
    bad_time = table.set_column(0, "ts", pa.array(["noon", "", "x", "y"]))
    with pytest.raises(ValueError, match="seconds since the epoch"):
        detector.hosts(bad_time)
    # Some unreadable times (an anonymised `XXXXXXXXXX.XXXXXX`): those rows are skipped.
    some = table.set_column(0, "ts", pa.array(["1.0", "XXXXXXXXXX.XXXXXX", "3.0", "4.0"]))
    with pytest.warns(UserWarning, match="3 rows"):
        assert detector.hosts(some).num_rows == 0
    with pytest.raises(ValueError, match="pyarrow, pandas or Polars"):
        detector.hosts([("10.0.0.1", "example.com")])
