"""Type stubs of the native module: use `dga_detect.Detector`, which wraps it."""

from typing import Optional

# An Arrow string array as its buffers: offset, validity, 32-bit offsets, UTF-8 data.
Strings = tuple[int, Optional[bytes], bytes, bytes]
# An Arrow array of fixed-width numbers without nulls: offset, values.
Numbers = tuple[int, bytes]
# An alert: log time, kind (`host`, `campaign`), client, the alert as `monitor` writes it (JSON).
AlertRow = tuple[float, str, Optional[str], str]

class NativeDetector:
    """A loaded model, its thresholds, allow-list and thread count."""

    def __init__(
        self,
        weights: Optional[bytes],
        allow: list[tuple[str, str]],
        shipped_allow: bool,
        high: float,
        medium: float,
        threads: int,
    ) -> None: ...
    def score_arrow(
        self,
        len: int,
        offset: int,
        validity: Optional[bytes],
        offsets: bytes,
        data: bytes,
    ) -> list[tuple[str, bytes, list[bytes]]]:
        """Scores an Arrow string array given as its buffers; one (type, validity, values)
        triple per verdict column."""
    def hosts(
        self,
        len: int,
        client: Strings,
        time: Numbers,
        query: Strings,
        rcode: Strings,
        window_s: float,
        budget: float,
    ) -> tuple[list[AlertRow], int]:
        """Host and campaign alerts over a table of queries in one pass, as `dga monitor`
        reads a log; and the number of rows skipped (no client, finite time or name)."""
    def name_evidence(
        self, len: int, names: Strings
    ) -> tuple[list[Optional[str]], list[str], list[float], list[Optional[str]], list[str]]:
        """Each name's evidence for the host rule: registrable domain (None: no evidence),
        registrable label, p_dga, family, the family head's kept classes as text."""
    @staticmethod
    def columns() -> list[tuple[str, str]]:
        """The verdict columns' names and Arrow types, in order."""

class NativeHosts:
    """The rules and dictionaries `spark.hosts` judges clients with, and one pass's facts."""

    popular_clients: int

    def __init__(self, weights: Optional[bytes], window_s: float, budget: float) -> None: ...
    def given(
        self, history: list[tuple[int, list[int]]], popular: list[tuple[str, float, int]]
    ) -> NativeHosts:
        """The same rules and dictionaries with one pass's facts."""
    def judge(
        self,
        client: str,
        len: int,
        time: Numbers,
        seq: Numbers,
        query: Strings,
        rcode: Strings,
        registrable: Strings,
        label: Strings,
        p_dga: Numbers,
        family: Strings,
        classes: Strings,
    ) -> tuple[list, list, list, list, list]:
        """Judges one client's rows: its host alerts (time, seq, JSON), history by stretch,
        first lookups of popular candidates, failed generated names, changes in leaning."""
    def campaigns(self, parts: list) -> list[AlertRow]:
        """Campaign alerts and the host alerts completed with their partners, in log order."""
