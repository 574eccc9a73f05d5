"""Detect DGA domain names in Python: the detector of the `dga` command, in-process.

    >>> from dga_detect import Detector
    >>> table = Detector().score(["google.com", "xjkd8f2hqzpwv.com"])
    >>> table.column("p_dga")

`Detector.score` takes a list of str, a numpy array or a pyarrow (Chunked)Array and returns a
`pyarrow.Table` with the columns of `dga predict`'s CSV (`input`, `domain`, `p_dga`, `risk`,
`error`, `family`, ...). Scores are float32; text is as the model read it (not quoted for
spreadsheets, unlike the CSV). Names that cannot be scored (empty, IP addresses, special-use
names, nulls) get their reason in `error` and no score; nothing raises. Scoring runs on every
core with the GIL released. For Spark, see `dga_detect.spark`.
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import pyarrow as pa

from dga_detect._native import NativeDetector

__all__ = ["Detector", "COLUMNS", "SCHEMA"]

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
