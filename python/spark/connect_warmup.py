"""A first query on a new Spark Connect server, run by the hub before the cluster counts as ready.

Runs through the Connect client of the cluster's environment, as the person, with the address and
token in SPARK_REMOTE and SPARK_CONNECT_AUTHENTICATE_TOKEN, exactly as a notebook does. What it runs
is what a first cell usually does: a count, a small grouping (a shuffle), a local DataFrame to pandas
(Arrow). Each step's time goes to the Connect server's log. The session is released at the end so it
does not linger on the server.
"""
import os
import time

started = time.monotonic()


def took(what: str) -> None:
    global started
    now = time.monotonic()
    print(f"[refinery] warm-up: {what} {now - started:.2f} s", flush=True)
    started = now


from pyspark.sql import SparkSession  # noqa: E402  (the import is part of what is timed)

spark = SparkSession.builder.remote(os.environ["SPARK_REMOTE"]).getOrCreate()
took("client and session")
spark.range(10).count()
took("count")
spark.range(100).selectExpr("id % 3 AS k").groupBy("k").count().collect()
took("grouping")
spark.createDataFrame([(1, "a"), (2, "b")], ["n", "s"]).toPandas()
took("toPandas")
spark.stop()
