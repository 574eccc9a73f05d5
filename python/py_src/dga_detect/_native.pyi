"""Type stubs of the native module: use `dga_detect.Detector`, which wraps it."""

from typing import Optional

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
    @staticmethod
    def columns() -> list[tuple[str, str]]:
        """The verdict columns' names and Arrow types, in order."""
