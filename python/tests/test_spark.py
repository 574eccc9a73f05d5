"""`dga_detect.spark.score` on local-mode Spark: 100,000 names of the shared data, every row
checked against `dga predict`."""

import pytest

from conftest import assert_rows_match, predict, sample

pyspark = pytest.importorskip("pyspark", reason="pip install pyspark (and Java 17) to run")


def test_scores_100000_names_as_dga_predict_does(spark, dga_bin, shared_names):
    from dga_detect.spark import score

    names = sample(shared_names, 100_000) + [None, "", "10.0.0.1"]
    df = spark.createDataFrame([(i, n) for i, n in enumerate(names)], "id long, query string")
    scored = score(df.repartition(4), "query")
    assert scored.columns[:2] == ["id", "query"] and "p_dga" in scored.columns
    rows = sorted((r.asDict() for r in scored.collect()), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == list(range(len(names)))
    for row in rows:
        row["input"] = row["query"]
    expected = predict(dga_bin, names[:-3])
    assert_rows_match(rows[:-3], expected)
    assert all(r["p_dga"] is None and r["error"] for r in rows[-3:])


def test_taken_column_names_need_a_prefix(spark):
    from dga_detect.spark import score

    df = spark.createDataFrame([("a.com", "x")], "query string, domain string")
    with pytest.raises(ValueError, match="prefix"):
        score(df, "query")
    assert "dga_p_dga" in score(df, "query", prefix="dga_").columns
    with pytest.raises(ValueError, match="no column"):
        score(df, "host")
