"""The views computed from events, and the point-in-time training-set join, on PySpark.

The definitions of `features.compute` and of the `asof` join in `features.retrieval`, written
as Spark aggregations and window functions partitioned by key, so executors share the work
that pandas does in one process; parity tests hold both engines to the same values. Events are
read by Spark from DATA's parquet files; the views come back to the driver as pandas frames
(through Arrow), so the offline tables, `feast apply`, the online store and the checks after
them are the same for both engines.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.config import FeatureConfig
from aktrec.data.prepare import PreparedData
from aktrec.errors import DataError
from aktrec.features import names as feature_names
from aktrec.features import statistics
from aktrec.features.compute import cluster_statistics, cumulative_prior, snapshot_grid, tail_thresholds
from aktrec.features.contract import ViewContract
from aktrec.semantic_ids.tables import SemanticTables

# Local mode only: one shuffle partition per core and a few more, not Spark's 200.
LOCAL_SHUFFLE_PARTITIONS = 2 * (os.cpu_count() or 1)


def spark_session():
    """The session of this process: spark-submit's (a SparkApplication's driver) when launched by
    it, else local mode on this machine's cores (`AKTREC_SPARK_MASTER` overrides the master)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("aktrec-features").config("spark.sql.session.timeZone", "UTC")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not started by spark-submit
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers with this environment's packages
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # nothing listens beyond this machine
        builder = (
            builder.master(os.environ.get("AKTREC_SPARK_MASTER", "local[*]"))
            .config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    session = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _columns(spark, frame: pd.DataFrame):
    """A small driver-side table (lookups, priors) as a broadcast Spark frame."""
    from pyspark.sql import functions as F

    return F.broadcast(spark.createDataFrame(frame))


def spark_event_views(
    data: PreparedData, users: SemanticTables, items: SemanticTables, config: FeatureConfig
) -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]:
    """`compute.event_views` on Spark, for timestamped data (one clock shared by all views)."""
    from pyspark.sql import functions as F

    if data.ordinal:
        raise DataError(
            "interactions",
            "features.engine 'spark' needs real timestamps; ordinal sequences (leave-last-out) use 'pandas'",
            column=schemas.TS,
        )
    if data.source is None:
        raise ValueError("features.engine 'spark' reads the events from DATA's files: read DATA with read_prepared")
    spark = spark_session()
    train = spark.read.parquet(str(schemas.table_file(data.source, "train")))
    events = (
        train.where(~F.col(schemas.IS_SAMPLED))
        .select(
            schemas.ROW_ID,
            schemas.USER_ID,
            schemas.ITEM_ID,
            F.unix_micros(schemas.TS).alias("micros"),
            F.col(schemas.LABEL).cast("double"),
        )
        .join(
            _columns(spark, pd.DataFrame({schemas.USER_ID: users.ids, feature_names.USER_CLUSTER_ID: users.cluster})),
            schemas.USER_ID,
            "left",
        )
        .join(
            _columns(
                spark,
                pd.DataFrame(
                    {
                        schemas.ITEM_ID: items.ids,
                        feature_names.ITEM_CLUSTER_ID: items.cluster,
                        feature_names.ITEM_TOP_ID: items.codes[:, 0],
                    }
                ).astype({feature_names.ITEM_TOP_ID: np.int64}),
            ),
            schemas.ITEM_ID,
            "left",
        )
        .fillna(-1, subset=[feature_names.USER_CLUSTER_ID, feature_names.ITEM_CLUSTER_ID, feature_names.ITEM_TOP_ID])
    )
    first, last = events.agg(F.min("micros"), F.max("micros")).first()
    grid = snapshot_grid(
        pd.Timestamp(first, unit="us", tz="UTC"), pd.Timestamp(last, unit="us", tz="UTC"), "time", data.cutoff, config
    )
    events = events.withColumn("visible", _visible_udf(grid)("micros")).where(F.col("visible") < len(grid)).cache()
    per_snapshot = (
        events.groupBy("visible").agg(F.count(F.lit(1)).alias("n"), F.sum(schemas.LABEL).alias("c")).toPandas()
    )
    counts = per_snapshot.set_index("visible").reindex(np.arange(len(grid)), fill_value=0)
    prior = _columns(
        spark,
        pd.DataFrame(
            {
                "snapshot": np.arange(len(grid)),
                "prior": cumulative_prior(counts["n"].to_numpy(), counts["c"].to_numpy()),
            }
        ),
    )
    features = _EventFeatures(events, prior, len(grid), config)
    thresholds = tail_thresholds(data)
    views = {}
    for kind, sem, id_column, key in (
        ("user", users, schemas.USER_ID, feature_names.USER_CLUSTER_ID),
        ("item", items, schemas.ITEM_ID, feature_names.ITEM_CLUSTER_ID),
    ):
        members = pd.DataFrame({id_column: sem.ids, key: sem.cluster})
        known = events.join(_columns(spark, members[[id_column]]), id_column)
        activity = features.activity(known, id_column, thresholds[kind])
        views[f"{kind}_activity"] = activity
        sizes = members[key].value_counts().rename("size").rename_axis(key).reset_index()
        views[f"{kind}_cluster_features"] = features.cluster_average(
            activity, _columns(spark, members), _columns(spark, sizes), key, thresholds[kind]
        )
    views[feature_names.CROSS_USER_ITEM_CLUSTER] = features.cross([schemas.USER_ID, feature_names.ITEM_CLUSTER_ID])
    views[feature_names.CROSS_USER_CLUSTER_ITEM_CLUSTER] = features.cross(
        [feature_names.USER_CLUSTER_ID, feature_names.ITEM_CLUSTER_ID]
    )
    clicks = events.where(F.col(schemas.LABEL) == 1)
    views[feature_names.USER_SEQUENCE] = _sequence(clicks, [schemas.USER_ID], config.user_sequence_length)
    views[feature_names.CLUSTER_SEQUENCE] = _sequence(
        clicks, [feature_names.USER_CLUSTER_ID, feature_names.ITEM_TOP_ID], config.cluster_sequence_length
    )
    out = {name: _at_snapshot_times(frame.toPandas(), grid) for name, frame in views.items()}
    events.unpersist()
    return out, grid


def _visible_udf(grid: pd.DatetimeIndex):
    """The snapshot at which an event (its time in microseconds) becomes visible: the first
    grid point after it (`compute.visible_from`)."""
    from pyspark.sql.functions import pandas_udf

    grid_micros = grid.as_unit("us").asi8  # exact: event times and the grid are whole microseconds

    @pandas_udf("int")
    def visible(micros: pd.Series) -> pd.Series:
        return pd.Series(np.searchsorted(grid_micros, micros.to_numpy(), side="right").astype(np.int32))

    return visible


def _at_snapshot_times(frame: pd.DataFrame, grid: pd.DatetimeIndex) -> pd.DataFrame:
    """Snapshot indices as the grid's timestamps; list columns as lists, as pandas builds them."""
    frame.insert(
        frame.columns.get_loc("snapshot"), feature_names.EVENT_TIMESTAMP, grid[frame.pop("snapshot").to_numpy()]
    )
    if "recent_items" in frame:
        frame["recent_items"] = [list(items) for items in frame["recent_items"]]
    return frame


class _EventFeatures:
    """The aggregations of `compute` over the visible events (column `visible`: their snapshot)."""

    def __init__(self, events, prior, k: int, config: FeatureConfig):
        self.events, self.prior, self.k, self.config = events, prior, k, config

    @staticmethod
    def _statistics(totals, keys: list[str], names: list[str], compute):
        """`keys`, snapshot and the columns `names` that `compute` (a pandas frame of `totals`'
        rows -> name -> values) returns, per batch of rows: the formulas of `statistics` run
        as they do on pandas."""
        from pyspark.sql.types import DoubleType, StructField, StructType

        schema = StructType(
            [totals.schema[key] for key in [*keys, "snapshot"]] + [StructField(n, DoubleType()) for n in names]
        )

        def per_batch(frames):
            for frame in frames:
                yield pd.DataFrame({**frame[[*keys, "snapshot"]], **compute(frame)})

        return totals.mapInPandas(per_batch, schema)

    def _apply(self, chosen: tuple[statistics.Statistic, ...], tail_threshold: int):
        """`compute` for `_statistics`: the chosen statistics of a frame of totals and prior."""
        strength = self.config.ctr_prior_strength
        return lambda frame: statistics.apply(chosen, statistics.Totals.of(frame, strength, tail_threshold))

    def activity(self, events, key: str, tail_threshold: int):
        """`compute.activity_rows`: a row per key wherever an event becomes visible or leaves the
        recent window; totals over all snapshots so far and over the window."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        window = self.config.window_snapshots
        per = events.groupBy(key, F.col("visible").alias("snapshot")).agg(
            F.count(F.lit(1)).cast("double").alias("exposures"), F.sum(schemas.LABEL).alias("clicks")
        )
        expiring = per.select(
            key,
            (F.col("snapshot") + window).alias("snapshot"),
            F.lit(0.0).alias("exposures"),
            F.lit(0.0).alias("clicks"),
        ).where(F.col("snapshot") < self.k)
        changes = per.unionByName(expiring).groupBy(key, "snapshot").agg(F.sum("exposures"), F.sum("clicks"))
        ordered = Window.partitionBy(key).orderBy("snapshot")
        so_far = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        recent = ordered.rangeBetween(-(window - 1), Window.currentRow)
        totals = changes.select(
            key,
            "snapshot",
            F.sum("sum(exposures)").over(so_far).alias("exposures"),
            F.sum("sum(clicks)").over(so_far).alias("clicks"),
            F.sum("sum(exposures)").over(recent).alias("recent_exposures"),
            F.sum("sum(clicks)").over(recent).alias("recent_clicks"),
        ).join(self.prior, "snapshot")
        return self._statistics(totals, [key], feature_names.ACTIVITY, self._apply(statistics.ACTIVITY, tail_threshold))

    def cluster_average(self, activity, members, sizes, key: str, tail_threshold: int):
        """`compute.cluster_activity_rows` (eq. 9 over time): each member's change is added to
        its cluster's running sums; every cluster has a row at the first snapshot."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        entity = activity.columns[0]
        unseen = statistics.unseen(tail_threshold)
        previous = Window.partitionBy(entity).orderBy("snapshot")
        deltas = activity.join(members, entity).select(
            key,
            "snapshot",
            *(
                (F.col(name) - F.coalesce(F.lag(name).over(previous), F.lit(value))).alias(name)
                for name, value in unseen.items()
            ),
        )
        starts = sizes.select(key, F.lit(0).alias("snapshot"), *(F.lit(0.0).alias(name) for name in unseen))
        summed = deltas.unionByName(starts).groupBy(key, "snapshot").agg(*(F.sum(n).alias(n) for n in unseen))
        running = Window.partitionBy(key).orderBy("snapshot").rowsBetween(Window.unboundedPreceding, Window.currentRow)
        averaged = summed.join(sizes, key).select(
            key,
            "snapshot",
            *((F.lit(value) + F.sum(name).over(running) / F.col("size")).alias(name) for name, value in unseen.items()),
        )
        config = self.config
        return self._statistics(
            averaged.join(self.prior, "snapshot"),
            [key],
            feature_names.CLUSTER_AVG,
            lambda frame: cluster_statistics(
                {name: frame[name].to_numpy() for name in unseen}, frame["prior"].to_numpy(), tail_threshold, config
            ),
        )

    def cross(self, keys: list[str]):
        """`compute.cross_rows`: cumulative exposures, clicks and smoothed CTR per key combination."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        per = self.events.groupBy(*keys, F.col("visible").alias("snapshot")).agg(
            F.count(F.lit(1)).cast("double").alias("exposures"), F.sum(schemas.LABEL).alias("clicks")
        )
        so_far = Window.partitionBy(*keys).orderBy("snapshot").rowsBetween(Window.unboundedPreceding, Window.currentRow)
        totals = per.select(
            *keys,
            "snapshot",
            F.sum("exposures").over(so_far).alias("exposures"),
            F.sum("clicks").over(so_far).alias("clicks"),
        ).join(self.prior, "snapshot")
        # no cross statistic reads the tail threshold
        return self._statistics(totals, keys, feature_names.CROSS, self._apply(statistics.CROSS, tail_threshold=0))


def _sequence(clicks, keys: list[str], length: int):
    """`compute.sequence_rows`: the last `length` clicked items (oldest first) per key, as of the
    last click of each snapshot; clicks at the same time keep DATA's row order."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ordered = Window.partitionBy(*keys).orderBy("micros", schemas.ROW_ID)
    latest_first = Window.partitionBy(*keys, "visible").orderBy(F.desc("micros"), F.desc(schemas.ROW_ID))
    return (
        clicks.select(
            *keys,
            "visible",
            "micros",
            schemas.ROW_ID,
            F.collect_list(schemas.ITEM_ID)
            .over(ordered.rowsBetween(-(length - 1), Window.currentRow))
            .alias("recent_items"),
        )
        .withColumn("latest", F.row_number().over(latest_first))
        .where(F.col("latest") == 1)
        .select(*keys, F.col("visible").alias("snapshot"), "recent_items")
    )


def historical_join(repo: Path, contract: list[ViewContract], entities: pd.DataFrame) -> pd.DataFrame:
    """The `asof` point-in-time join on Spark: for each sample row and view, the latest row with
    the same keys at or before the sample's time. Feature rows and samples are ordered together
    per key (a feature row first at equal times) and each sample takes the last feature row
    before it, as one struct so that a null feature stays null."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from aktrec.features.repo import DATA_DIR

    spark = spark_session()
    key_columns = sorted({key for view in contract for key in view.join_keys})
    samples = spark.createDataFrame(
        entities[[schemas.ROW_ID, *key_columns]].assign(
            micros=entities[feature_names.EVENT_TIMESTAMP].dt.as_unit("us").astype("int64")
        )
    ).cache()
    out = entities[[schemas.ROW_ID]].copy()
    for view in contract:
        keys = list(view.join_keys)
        rows = spark.read.parquet(str(Path(repo) / DATA_DIR / f"{view.name}.parquet"))
        features = rows.select(
            *keys,
            F.unix_micros(feature_names.EVENT_TIMESTAMP).alias("micros"),
            F.lit(0).alias("order"),
            F.lit(None).cast("long").alias(schemas.ROW_ID),
            F.struct(*(F.col(f).alias(c) for f, c in zip(view.features, view.columns))).alias("values"),
        )
        probes = samples.select(
            *keys,
            "micros",
            F.lit(1).alias("order"),
            schemas.ROW_ID,
            F.lit(None).cast(features.schema["values"].dataType).alias("values"),
        )
        so_far = (
            Window.partitionBy(*keys)
            .orderBy("micros", "order")
            .rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        joined = (
            features.unionByName(probes)
            .select(schemas.ROW_ID, F.last("values", ignorenulls=True).over(so_far).alias("values"))
            .where(F.col(schemas.ROW_ID).isNotNull())
            .select(schemas.ROW_ID, "values.*")
            .toPandas()
        )
        out = out.merge(joined, on=schemas.ROW_ID, how="left", validate="one_to_one")
    samples.unpersist()
    return out
