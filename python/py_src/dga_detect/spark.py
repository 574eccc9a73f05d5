"""Score a Spark DataFrame's column of names: `score(df, "query")` adds the verdict columns.

It runs through `DataFrame.mapInArrow`: each Python worker loads the detector once (kept for
the worker's life, however many batches and tasks it serves) and scores Arrow batches in place,
with no pandas conversion. Every Spark task already has a core of its own, so the detector
scores on one thread per task unless told otherwise.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional, Sequence

import pyarrow as pa

from dga_detect import SCHEMA, Detector, _as_string_chunks

__all__ = ["score"]

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
