"""`dga_detect.Detector` against `dga predict`, its inputs, bad names, options and the GIL."""

import threading

import numpy as np
import pyarrow as pa
import pytest

from conftest import assert_rows_match, predict, sample
from dga_detect import COLUMNS, SCHEMA, Detector

BAD = ["", "10.0.0.1", "=cmd|x", "a" * 300, "printer.local", "_ldap._tcp.example.com",
       "münchen.de", "https://Www.Xjkd8f2h.com:8080/a", "xjkd8f2hqzpwv.bazar"]


def test_verdicts_equal_dga_predicts_on_38000_names(dga_bin, shared_names):
    names = sample(shared_names, 38_000 - len(BAD)) + BAD
    table = Detector().score(names)
    assert table.schema == SCHEMA
    assert table.column_names == COLUMNS
    assert_rows_match(table.to_pylist(), predict(dga_bin, names))


def test_a_list_a_numpy_array_and_arrow_arrays_give_the_same_table(shared_names):
    names = sample(shared_names, 3_000)
    detector = Detector()
    expected = detector.score(names)
    chunked = pa.chunked_array([pa.array(names[:1000]), pa.array(names[1000:])])
    want = expected.to_pylist()
    for given in (np.array(names), pa.array(names), pa.array(names, pa.large_string()), chunked):
        got = detector.score(given)
        assert got.schema == SCHEMA
        # Batch-mates differ when the input comes in other pieces: floats may move in the
        # last bits of a matrix product, nothing else.
        for row, expect in zip(got.to_pylist(), want, strict=True):
            for column, value in row.items():
                if isinstance(value, float):
                    assert value == pytest.approx(expect[column], abs=1e-5), column
                else:
                    assert value == expect[column], column


def test_bad_names_get_their_error_and_nothing_raises():
    table = Detector().score([None, 5, "", "10.0.0.1", "a" * 300, "google.com"])
    rows = table.to_pylist()
    assert [r["input"] for r in rows] == [None, None, "", "10.0.0.1", "a" * 300, "google.com"]
    assert all(r["p_dga"] is None and r["error"] for r in rows[:5])
    assert "null or not text" in rows[0]["error"] and "null or not text" in rows[1]["error"]
    assert "IP address" in rows[3]["error"]
    assert rows[5]["error"] is None and rows[5]["p_dga"] < 0.5


def test_no_names_give_an_empty_table_of_the_same_schema():
    table = Detector().score([])
    assert table.num_rows == 0 and table.schema == SCHEMA


def test_options_allow_list_thresholds_and_threads(tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("# ours\nxjkd8f2hqzpwv.com\n")
    names = ["xjkd8f2hqzpwv.com", "qmbvtrzxkplw.net"]
    rows = Detector(allow=[allow], threads=1).score(names).to_pylist()
    assert rows[0]["risk"] == "allowed" and rows[0]["allowed"] == "xjkd8f2hqzpwv.com"
    assert rows[1]["risk"] == "high"
    # `ablefell.net` scores about 0.12: low by default, high under a band that starts lower.
    assert Detector().score(["ablefell.net"]).column("risk").to_pylist() == ["low"]
    rows = Detector(high=0.1, medium=0.05).score(["ablefell.net"]).to_pylist()
    assert rows[0]["risk"] == "high"


def test_unusable_files_are_refused_with_the_reason(tmp_path):
    junk = tmp_path / "junk.dgaw"
    junk.write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="not a weights file"):
        Detector(weights=junk)
    bad_allow = tmp_path / "allow.txt"
    bad_allow.write_text("ok.com\n1.2.3.4\n")
    with pytest.raises(ValueError, match="allow.txt line 2"):
        Detector(allow=[bad_allow])
    with pytest.raises(OSError):
        Detector(weights=tmp_path / "missing.dgaw")
    with pytest.raises(ValueError, match="thresholds"):
        Detector(high=0.5, medium=0.9)


def test_scoring_releases_the_gil(shared_names):
    # With the GIL held for the whole call, this thread could not count while the other scores.
    names = sample(shared_names, 200_000)
    detector = Detector()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (detector.score(names), done.set()))
    counted = 0
    worker.start()
    while not done.is_set():
        counted += 1
    worker.join()
    assert counted > 1000, counted
