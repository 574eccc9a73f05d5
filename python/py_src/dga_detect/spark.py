"""Spark: `score(df, "query")` adds the verdict columns to a DataFrame's column of names;
`hosts(df)` judges the hosts of a DataFrame of DNS queries, with `dga monitor`'s rule.

`score` runs through `DataFrame.mapInArrow`: each Python worker loads the detector once (kept for
the worker's life, however many batches and tasks it serves) and scores Arrow batches in place,
with no pandas conversion. Every Spark task already has a core of its own, so the detector
scores on one thread per task unless told otherwise.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from typing import Iterable, Iterator, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from dga_detect import (
    ALERT_SCHEMA,
    BUDGET,
    SCHEMA,
    WINDOW_S,
    Detector,
    _as_string_chunks,
    _strings,
    _values,
    alert_table,
)
from dga_detect._native import NativeHosts

__all__ = ["score", "hosts"]

_log = logging.getLogger(__name__)

# One detector per Python worker process and set of options: Spark reuses its Python workers
# across tasks (`spark.python.worker.reuse`, on by default), so this is loaded once per worker.
_detectors: dict = {}


def _detector(options: tuple) -> Detector:
    if options not in _detectors:
        weights, allow, shipped_allow, high, medium, threads = options
        _detectors[options] = Detector(
            weights,
            allow,
            shipped_allow=shipped_allow,
            high=high,
            medium=medium,
            threads=threads,
        )
    return _detectors[options]


def score(
    df,
    column: str,
    *,
    prefix: str = "",
    weights: Optional[str] = None,
    allow: Sequence[str] = (),
    shipped_allow: bool = True,
    high: float = 0.8,
    medium: float = 0.6,
    threads: int = 1,
):
    """Returns `df` with the verdict columns (`domain`, `p_dga`, `risk`, `error`, ...) added.

    Args:
        df: a `pyspark.sql.DataFrame`.
        column: the column of names to score (strings; nulls get an error, not an exception).
        prefix: put before each added column's name, for frames that already have such columns.
        weights, allow, shipped_allow, high, medium: as for `dga_detect.Detector`; files must
            be readable on every executor (ship them with `--files`).
        threads: threads each task scores on.

    Raises:
        ValueError: `column` is missing, or an added column's name is taken.
    """
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StructType

    if column not in df.columns:
        raise ValueError(f"no column `{column}` in {df.columns}")
    added = [f for f in SCHEMA if f.name != "input"]
    names = [prefix + f.name for f in added]
    taken = sorted(set(names) & set(df.columns))
    if taken:
        raise ValueError(
            f"the frame already has {taken}: pass prefix= to name the verdict columns apart"
        )
    verdict_schema = from_arrow_schema(pa.schema([f.with_name(n) for n, f in zip(names, added)]))
    schema = StructType(df.schema.fields + verdict_schema.fields)
    options = (weights, tuple(allow), shipped_allow, high, medium, threads)
    kept = [SCHEMA.get_field_index(f.name) for f in added]

    def score_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        detector = _detector(options)
        for batch in batches:
            names_in = _as_string_chunks(batch.column(column))
            scored = [b for names in names_in for b in detector.score_batches(names)]
            verdict = pa.Table.from_batches(scored, schema=SCHEMA)
            arrays = batch.columns + [verdict.column(i).combine_chunks() for i in kept]
            yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names + names)

    return df.mapInArrow(score_batches, schema)


# Per Python worker: the rules and dictionaries of `hosts` (its weights loaded once), and the
# network's facts of the current pass (made once per pass, not per client).
_bases: dict = {}
_passes: dict = {}

# What each client's judgement gives back, one row per item (`kind` says which columns hold it):
# `alert` (a host alert as JSON), `history` (benign lookups of a stretch of log time, by
# category), `popular` (the client's first lookup of an answered generated-looking name),
# `failed` (a failed generated name), `leaning` (its evidence started or stopped leaning
# towards infection).
_JUDGED = (
    "client string, kind string, time double, seq long, bucket long, counts array<long>, "
    "name string, query string, p_dga float, leaning boolean, alert string"
)

_JUDGED_ARROW = pa.schema(
    [
        ("client", pa.string()),
        ("kind", pa.string()),
        ("time", pa.float64()),
        ("seq", pa.int64()),
        ("bucket", pa.int64()),
        ("counts", pa.list_(pa.int64())),
        ("name", pa.string()),
        ("query", pa.string()),
        ("p_dga", pa.float32()),
        ("leaning", pa.bool_()),
        ("alert", pa.string()),
    ]
)
_JUDGED_FIELDS = _JUDGED_ARROW.names

_EVIDENCE = (
    "query string, registrable string, label string, p_dga float, family string, classes string"
)


def hosts(
    df,
    *,
    client: str = "client",
    ts: str = "ts",
    query: str = "query",
    rcode: Optional[str] = "rcode",
    weights: Optional[str] = None,
    allow: Sequence[str] = (),
    shipped_allow: bool = True,
    window_s: float = WINDOW_S,
    budget: float = BUDGET,
    threads: int = 1,
    max_passes: int = 8,
):
    """Judges the hosts of a DataFrame of DNS queries; returns their alerts as a DataFrame of
    `dga_detect.ALERT_SCHEMA`'s columns (kind, client, time, reason, alert), in log order.

    The rule, and the Rust code, are `dga monitor`'s; the alerts are those `Detector.hosts`
    and `monitor` raise on the same queries. How the job is split:

    1. Each distinct name is scored once (`mapInArrow`), and joined back to its queries.
    2. Each client is judged apart (`groupBy(client).applyInArrow`), against the network's facts
       (its history of benign lookups, the names popular across clients) made by the pass
       before; the first pass starts from none. The passes repeat until one gives back the
       facts it was given: then they are those a single pass over the log learns, and so are
       the alerts (see `dnswatch::split`). 4 passes on the simulated networks measured; at most
       `max_passes`, past which a warning says the alerts may differ.
    3. The failed generated names of every client, a sliver of the log, are replayed in log
       order on the driver to find campaigns and the hosts each alerted host shares names with.

    Args:
        df: a `pyspark.sql.DataFrame` with one row per query.
        client, ts, query, rcode: column names, as for `Detector.hosts` (`ts`: seconds since the
            epoch as numbers or text, or a timestamp, one without a zone read as UTC; `rcode`:
            the answer code's name, or None).
        weights, allow, shipped_allow: as for `dga_detect.Detector`.
        window_s, budget: as `monitor`'s `--host-window-s` and `--host-budget`.
        threads: threads each task scores names on.
        max_passes: the most passes over the queries.

    Rows without a client, a time or a name are left out.

    Raises:
        ValueError: a column is missing, or `max_passes` is under 2.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    for name in [client, ts, query] + ([rcode] if rcode is not None else []):
        if name not in df.columns:
            raise ValueError(f"no column `{name}` in {df.columns}")
    if max_passes < 2:
        raise ValueError(
            f"max_passes must be at least 2 (the first starts from nothing), not {max_passes}"
        )
    # The risk bands (0.8, 0.6: `Detector`'s defaults) do not enter the host rule.
    options = (weights, tuple(allow), shipped_allow, 0.8, 0.6, threads)
    blob = None
    if weights is not None:
        with open(weights, "rb") as f:
            blob = f.read()

    def col(name):
        # Quoted: Zeek's JSON logs name their client `id.orig_h`, which unquoted is a field path.
        return F.col("`" + name.replace("`", "``") + "`")

    kind = df.schema[ts].dataType
    if isinstance(kind, TimestampType):
        seconds = F.unix_micros(col(ts)) / 1e6
    elif isinstance(kind, TimestampNTZType):
        # A time without a zone is read as UTC, as logs write theirs (and as `Detector.hosts`
        # reads Arrow's), whatever the session's zone; it cannot be cast to a number.
        epoch = F.lit("1970-01-01 00:00:00").cast("timestamp_ntz")
        seconds = F.timestamp_diff("MICROSECOND", epoch, col(ts)) / 1e6
    else:
        # Unreadable times become nulls, left out with the rows lacking one (a plain cast fails
        # the job on the first under ANSI mode, Spark 4's default).
        seconds = col(ts).try_cast("double")
    answer = col(rcode).cast("string") if rcode is not None else F.lit(None).cast("string")
    rows = (
        df.select(
            col(client).cast("string").alias("client"),
            seconds.alias("time"),
            col(query).cast("string").alias("query"),
            answer.alias("rcode"),
        )
        # The input's order breaks ties in time, as a log's line order does for `monitor`.
        .withColumn("seq", F.monotonically_increasing_id())
        .where(
            F.col("client").isNotNull()
            & F.col("time").isNotNull()
            & ~F.isnan("time")
            & F.col("query").isNotNull()
            & (F.col("query") != "")
        )
    )

    def evidence(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        native = _detector(options)._native
        for batch in batches:
            for names in _as_string_chunks(batch.column("query")):
                registrable, label, p_dga, family, classes = native.name_evidence(
                    len(names), _strings(names)
                )
                yield pa.RecordBatch.from_arrays(
                    [
                        names,
                        pa.array(registrable, pa.string()),
                        pa.array(label, pa.string()),
                        pa.array(p_dga, pa.float32()),
                        pa.array(family, pa.string()),
                        pa.array(classes, pa.string()),
                    ],
                    names=["query", "registrable", "label", "p_dga", "family", "classes"],
                )

    names = rows.select("query").distinct().mapInArrow(evidence, _EVIDENCE)
    scored = rows.join(names, "query", "left").repartition("client").persist()
    try:
        facts = ((), ())
        judged = None
        for passes in range(1, max_passes + 1):
            if judged is not None:
                judged.unpersist()
            judged = (
                scored.groupBy("client")
                .applyInArrow(_judge(blob, window_s, budget, facts), _JUDGED)
                .persist()
            )
            learned = _learned(judged, _native_hosts(blob, window_s, budget))
            if learned == facts:
                _log.info("hosts: the network's facts settled in %d passes", passes)
                break
            facts = learned
        else:
            warnings.warn(
                f"the network's facts did not settle in {max_passes} passes: "
                "alerts may differ from `dga monitor`'s"
            )
        parts: dict = {}
        for row in judged.where(F.col("kind").isin("alert", "failed", "leaning")).collect():
            failed, leaning, alerts = parts.setdefault(row.client, ([], [], []))
            if row.kind == "alert":
                alerts.append((row.time, row.seq, row.alert))
            elif row.kind == "failed":
                failed.append((row.time, row.seq, row.query, row.name, row.p_dga))
            else:
                leaning.append((row.time, row.seq, row.leaning))
        judged.unpersist()
    finally:
        scored.unpersist()
    native = _native_hosts(blob, window_s, budget)
    alerts = native.campaigns([(c, f, l, a) for c, (f, l, a) in parts.items()])
    table = alert_table(alerts)
    spark = df.sparkSession
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame(table.to_pylist(), from_arrow_schema(ALERT_SCHEMA))


def _native_hosts(blob, window_s, budget, facts=None, token=None) -> NativeHosts:
    """The rules and dictionaries, loaded once per worker; with `facts`, those of the pass
    `token`, made once per worker and pass."""
    key = (window_s, budget, None if blob is None else hash(blob))
    if key not in _bases:
        _bases[key] = NativeHosts(blob, window_s, budget)
    if facts is None:
        return _bases[key]
    if token not in _passes:
        _passes.clear()
        history, popular = facts
        _passes[token] = _bases[key].given([(b, list(c)) for b, c in history], list(popular))
    return _passes[token]


def _judge(blob, window_s, budget, facts):
    """The function that judges one client's queries in one pass, given the network's facts."""
    token = uuid.uuid4().hex

    def judge(table: pa.Table) -> pa.Table:
        native = _native_hosts(blob, window_s, budget, facts, token)
        table = table.combine_chunks()

        def text(name):
            return _strings(_as_string_chunks(table.column(name).combine_chunks())[0])

        client = table.column("client")[0].as_py()
        p_dga = pc.fill_null(table.column("p_dga").combine_chunks(), 0.0)
        alerts, history, popular, failed, leaning = native.judge(
            client,
            table.num_rows,
            _values(table.column("time").combine_chunks()),
            _values(table.column("seq").combine_chunks()),
            text("query"),
            text("rcode"),
            text("registrable"),
            text("label"),
            _values(p_dga),
            text("family"),
            text("classes"),
        )
        out = {f: [] for f in _JUDGED_FIELDS}

        def row(kind, time=None, seq=None, **cells):
            out["client"].append(client)
            out["kind"].append(kind)
            out["time"].append(time)
            out["seq"].append(seq)
            for f in _JUDGED_FIELDS[4:]:
                out[f].append(cells.get(f))

        for time, seq, alert in alerts:
            row("alert", time, seq, alert=alert)
        for bucket, counts in history:
            row("history", bucket=bucket, counts=counts)
        for name, time, seq in popular:
            row("popular", time, seq, name=name)
        for time, seq, query, name, p in failed:
            row("failed", time, seq, query=query, name=name, p_dga=p)
        for time, seq, flag in leaning:
            row("leaning", time, seq, leaning=flag)
        return pa.Table.from_pydict(out, schema=_JUDGED_ARROW)

    return judge


def _learned(judged, native: NativeHosts) -> tuple:
    """The network's facts a pass made: the history summed over clients, by stretch; each name
    answered for `popular_clients` clients, from the lookup by the last of them."""
    from pyspark.sql import functions as F

    history: dict = {}
    for r in (
        judged.where(F.col("kind") == "history")
        .select("bucket", F.posexplode("counts").alias("category", "n"))
        .groupBy("bucket", "category")
        .agg(F.sum("n").alias("n"))
        .collect()
    ):
        history.setdefault(r.bucket, [0] * 10)[r.category] = r.n
    k = native.popular_clients
    popular = (
        judged.where(F.col("kind") == "popular")
        .groupBy("name")
        .agg(F.sort_array(F.collect_list(F.struct("time", "seq"))).alias("calls"))
        .where(F.size("calls") >= k)
        .select("name", F.col("calls")[k - 1].alias("from"))
        .collect()
    )
    return (
        tuple(sorted((b, tuple(c)) for b, c in history.items())),
        tuple(sorted((r.name, r["from"].time, r["from"].seq) for r in popular)),
    )
