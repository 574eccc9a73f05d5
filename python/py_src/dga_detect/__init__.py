"""Detect DGA domain names in Python: the detector of the `dga` command, in-process.

    >>> from dga_detect import Detector
    >>> table = Detector().score(["google.com", "xjkd8f2hqzpwv.com"])
    >>> table.column("p_dga")

`Detector.score` takes a list of str, a numpy array or a pyarrow (Chunked)Array and returns a
`pyarrow.Table` with the columns of `dga predict`'s CSV (`input`, `domain`, `p_dga`, `risk`,
`error`, `family`, ...). Scores are float32; text is as the model read it (not quoted for
spreadsheets, unlike the CSV). Names that cannot be scored (empty, IP addresses, special-use
names, nulls) get their reason in `error` and no score; nothing raises. Scoring runs on every
core with the GIL released.

`Detector.hosts` judges hosts from a table of DNS queries (client, time, name, answer code), with
the rule and code of `dga monitor`, and returns its host and campaign alerts. For Spark, see
`dga_detect.spark` (`score` for names, `hosts` for hosts).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dga_detect._native import NativeDetector

__all__ = ["Detector", "COLUMNS", "SCHEMA", "ALERT_SCHEMA"]

_ARROW_TYPES = {"string": pa.string(), "float32": pa.float32(), "bool": pa.bool_()}

#: The schema of `Detector.score`'s table: the columns of `dga predict`'s CSV, in order.
SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, _ARROW_TYPES[kind]) for name, kind in NativeDetector.columns()]
)

#: The verdict columns' names, in order.
COLUMNS: list[str] = SCHEMA.names

#: Names scored per call into the native code: bounds the memory of one call and keeps each
#: text column's 32-bit Arrow offsets far from overflowing.
BATCH = 1 << 16

#: The schema of `Detector.hosts`' and `spark.hosts`' tables: one row per alert, in log order.
#: `kind` is `host` or `campaign`; `client` is the host (null for campaigns); `time` the log time
#: (seconds since the epoch) of the query that raised it; `reason` one line saying why; `alert`
#: the whole alert as `dga monitor` writes it, as JSON (names, categories, families, ...).
ALERT_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("client", pa.string()),
        pa.field("time", pa.float64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("alert", pa.string(), nullable=False),
    ]
)

#: The host rule's defaults, as `dga monitor`'s `--host-window-s` and `--host-budget`.
WINDOW_S = 600.0
BUDGET = 1.0

Names = Union[Sequence[Optional[str]], np.ndarray, pa.Array, pa.ChunkedArray]
PathLike = Union[str, os.PathLike]


class Detector:
    """A loaded model, its risk thresholds and allow-list.

    Args:
        weights: a `.dgaw` weights file; None loads the model shipped in the package.
        allow: allow-list files (one registrable domain or suffix per line, `#` comments).
            Allowed names are still scored but get risk `allowed`.
        shipped_allow: also apply the shipped allow-list of CDN and cloud hostnames.
        high, medium: risk bands over `p_dga` (`high` at or above `high`).
        threads: threads to score on; 0 (the default) uses every core.

    Raises:
        ValueError: the weights or an allow-list line are not usable (with the reason).
        OSError: a file cannot be read.
    """

    def __init__(
        self,
        weights: Optional[PathLike] = None,
        allow: Iterable[PathLike] = (),
        *,
        shipped_allow: bool = True,
        high: float = 0.8,
        medium: float = 0.6,
        threads: int = 0,
    ) -> None:
        blob = None
        if weights is not None:
            with open(weights, "rb") as f:
                blob = f.read()
        texts = []
        for path in allow:
            with open(path, "rb") as f:
                texts.append((os.fspath(path), f.read().decode("utf-8", "replace")))
        self._native = NativeDetector(blob, texts, shipped_allow, high, medium, threads)

    def score(self, names: Names) -> pa.Table:
        """Scores `names` and returns one row per name, in order, with the verdict columns."""
        arrays = _as_string_chunks(names)
        batches = [batch for array in arrays for batch in self.score_batches(array)]
        return pa.Table.from_batches(batches, schema=SCHEMA)

    def hosts(
        self,
        table,
        *,
        client: str = "client",
        ts: str = "ts",
        query: str = "query",
        rcode: Optional[str] = "rcode",
        window_s: float = WINDOW_S,
        budget: float = BUDGET,
    ) -> pa.Table:
        """Judges the hosts of a table of DNS queries; returns their alerts (`ALERT_SCHEMA`).

        The rule is `dga monitor`'s (docs/monitoring.md): per client and window of log time,
        the generated-looking names it looks up, failed or not, weighed against its own traffic
        and the network's; names popular across clients count as ordinary; hosts sharing failed
        generated names make a campaign. Rows are taken in time order, ties in table order (as
        `monitor` reads a log written in time order), and each distinct name is scored once.

        Args:
            table: a pyarrow Table or RecordBatch, a pandas or Polars DataFrame.
            client, ts, query, rcode: column names. `ts`: seconds since the epoch (numbers or
                their text, as in Zeek logs) or a timestamp column. `rcode`: the answer code's
                name (`NOERROR`, `NXDOMAIN`, ... as Zeek's `rcode_name`); null, or `rcode=None`,
                for an unknown outcome.
            window_s, budget: as `monitor`'s `--host-window-s` and `--host-budget`.

        Rows without a client, a time or a name are skipped, with a warning saying how many.

        Raises:
            ValueError: a column is missing or of a type that cannot be read.
        """
        columns = _query_columns(_as_arrow_table(table), client, ts, query, rcode)
        alerts, skipped = self._native.hosts(
            len(columns[0]),
            _strings(columns[0]),
            _values(columns[1]),
            _strings(columns[2]),
            _strings(columns[3]),
            window_s,
            budget,
        )
        if skipped:
            warnings.warn(f"{skipped} rows without a client, a time or a name were skipped")
        return alert_table(alerts)

    def score_batches(self, names: pa.Array) -> Iterable[pa.RecordBatch]:
        """Scores a pyarrow string array, yielding one record batch per `BATCH` names."""
        for start in range(0, len(names), BATCH):
            yield self._score_array(names.slice(start, BATCH))

    def _score_array(self, array: pa.Array) -> pa.RecordBatch:
        validity, offsets, data = array.buffers()
        columns = self._native.score_arrow(
            len(array),
            array.offset,
            None if validity is None else validity.to_pybytes(),
            offsets.to_pybytes(),
            b"" if data is None else data.to_pybytes(),
        )
        arrays = [
            pa.Array.from_buffers(
                _ARROW_TYPES[kind],
                len(array),
                [pa.py_buffer(valid)] + [pa.py_buffer(b) for b in values],
            )
            for kind, valid, values in columns
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def _as_string_chunks(names: Names) -> list[pa.Array]:
    """`names` as pyarrow string arrays; entries that are not text become nulls."""
    if isinstance(names, pa.ChunkedArray):
        chunks = names.chunks
    elif isinstance(names, pa.Array):
        chunks = [names]
    elif isinstance(names, np.ndarray) and names.dtype.kind == "U":
        chunks = [pa.array(names, type=pa.string())]
    else:
        chunks = [pa.array([n if isinstance(n, str) else None for n in names], type=pa.string())]
    out = []
    for chunk in chunks:
        if not pa.types.is_string(chunk.type):
            if pa.types.is_large_string(chunk.type) or pa.types.is_string_view(chunk.type):
                chunk = chunk.cast(pa.string())
            else:
                chunk = pa.array(
                    [n if isinstance(n, str) else None for n in chunk.to_pylist()],
                    type=pa.string(),
                )
        out.append(chunk)
    return out


def alert_table(alerts: list) -> pa.Table:
    """Alerts as the native code gives them, (time, kind, client, JSON), as `ALERT_SCHEMA`."""
    rows = {
        "kind": [a[1] for a in alerts],
        "client": [a[2] for a in alerts],
        "time": [a[0] for a in alerts],
        "reason": [json.loads(a[3])["reason"] for a in alerts],
        "alert": [a[3] for a in alerts],
    }
    return pa.Table.from_pydict(rows, schema=ALERT_SCHEMA)


def _as_arrow_table(table) -> pa.Table:
    """A pyarrow Table from what data people hold: pyarrow, pandas or Polars."""
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    if hasattr(table, "to_arrow"):  # Polars
        return table.to_arrow()
    if hasattr(table, "to_records") and hasattr(table, "columns"):  # pandas
        return pa.Table.from_pandas(table, preserve_index=False)
    raise ValueError(f"expected a pyarrow, pandas or Polars table, not {type(table).__name__}")


def _query_columns(table: pa.Table, client: str, ts: str, query: str, rcode: Optional[str]):
    """The client, time, name and answer code columns as single arrays of the types the native
    code reads: strings, float64 seconds without nulls, strings, strings (all null without
    `rcode`)."""
    for name in [client, ts, query] + ([rcode] if rcode is not None else []):
        if name not in table.column_names:
            raise ValueError(f"no column `{name}` in {table.column_names}")
    n = table.num_rows
    times = table.column(ts).combine_chunks()
    if pa.types.is_timestamp(times.type):
        per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[times.type.unit]
        times = pc.divide(times.cast(pa.int64()).cast(pa.float64()), per_second)
    elif pa.types.is_string(times.type) or pa.types.is_large_string(times.type):
        try:
            times = times.cast(pa.float64())
        except pa.ArrowInvalid as e:
            # Text that is not all numbers: unreadable times become nulls (their rows are
            # skipped and counted), unless none is readable, when the column is not times.
            parsed = [_seconds(t) for t in times.to_pylist()]
            if all(t is None for t in parsed):
                raise ValueError(f"`{ts}` must hold seconds since the epoch: {e}") from None
            times = pa.array(parsed, pa.float64())
    elif pa.types.is_integer(times.type) or pa.types.is_floating(times.type):
        times = times.cast(pa.float64())
    else:
        raise ValueError(f"`{ts}` must be seconds or a timestamp, not {times.type}")

    def text(name):
        if name is None:
            return pa.nulls(n, pa.string())
        column = table.column(name).combine_chunks()
        try:
            return column.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ValueError(f"`{name}` cannot be read as text: {e}") from None

    # Missing times as NaN, which the native code skips and counts like any unusable time.
    return text(client), pc.fill_null(times, float("nan")), text(query), text(rcode)


def _seconds(text: Optional[str]) -> Optional[float]:
    """A time written as seconds, or None when it is not one."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _strings(array: pa.Array) -> tuple:
    """A string array's buffers as the native code takes them."""
    validity, offsets, data = array.buffers()
    return (
        array.offset,
        None if validity is None else validity.to_pybytes(),
        offsets.to_pybytes(),
        b"" if data is None else data.to_pybytes(),
    )


def _values(array: pa.Array) -> tuple:
    """A fixed-width number array's values buffer as the native code takes it."""
    return (array.offset, array.buffers()[1].to_pybytes())
