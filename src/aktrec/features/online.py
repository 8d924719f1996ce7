"""The online store of a deployment: filled by the pipeline from a materialized repository and
stamped with the materialization it holds (the stamp written last), so a predictor refuses to
serve a store that is empty, holds another feature service or an older materialization than its
own, instead of serving every feature as a default zero.

A SQLite online store lives inside its repository and is swapped in with it: it always holds
its repository's materialization. A Redis store is shared and long-lived: it carries the stamp.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from aktrec.artifacts import read_marker
from aktrec.errors import ArtifactError
from aktrec.features import names as feature_names
from aktrec.features.contract import ViewContract, stored_contract
from aktrec.features.names import PROJECT
from aktrec.features.repo import (
    DATA_DIR,
    REDIS_PASSWORD_ENV,
    REDIS_USERNAME_ENV,
    REPO_KIND,
    open_feature_store,
    store_yaml,
)

log = logging.getLogger("aktrec")
STAMP_KEY = f"aktrec:{PROJECT}:materialization"
ONLINE_WRITE_CHUNK = 100_000


def fill_online_store(store, contract: list[ViewContract], views: dict[str, pd.DataFrame]) -> None:
    """Write each key's latest row of every view to the online store (what Feast's
    `materialize` computes, without reading the whole history back from the offline files:
    memory grows with the keys, not with the change rows)."""
    for view in contract:
        latest = (
            views[view.name]
            .sort_values(feature_names.EVENT_TIMESTAMP, kind="stable")
            .drop_duplicates(list(view.join_keys), keep="last")
        )
        for start in range(0, len(latest), ONLINE_WRITE_CHUNK):
            store.write_to_online_store(view.name, latest.iloc[start : start + ONLINE_WRITE_CHUNK])


def materialization_id(marker: dict) -> str:
    """Which materialization a repository's marker names: its feature service and when it was written."""
    return f"{marker['feature_service']}@{marker['created_at']}"


def redis_client(store):
    """A plain client of the Redis behind a Feast store opened by `open_feature_store` (its
    connection string carries the environment's credentials; values JSON-quoted, as Feast reads them)."""
    import redis

    address, *options = [part.strip() for part in store.config.online_store.connection_string.split(",")]
    host, _, port = address.rpartition(":")
    settings = {}
    for option in options:
        key, _, value = option.partition("=")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return redis.Redis(
        host=host or "localhost",
        port=int(port or 6379),
        username=settings.get("username"),
        password=settings.get("password"),
        db=int(settings.get("db", 0)),
        ssl=str(settings.get("ssl", "false")).lower() == "true",
        socket_timeout=5,
    )


def fill_online(repo: Path, online_store: str) -> str:
    """Write each key's latest row of every view of REPO (a materialized repository with its
    offline tables) into `online_store` (`redis://HOST:PORT[/DB]`, `rediss://` with TLS; the
    credentials from the environment), then stamp the store with REPO's materialization;
    returns that id."""
    if not online_store.startswith(("redis://", "rediss://")):
        raise ArtifactError(f"online store {online_store!r}: the pipeline fills a shared store, use redis://HOST:PORT")
    marker = read_marker(repo, REPO_KIND)
    stamp = materialization_id(marker)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "repo"
        shutil.copytree(repo, target, ignore=shutil.ignore_patterns("online_store.db", "validation"))
        (target / "feature_store.yaml").write_text(store_yaml(online_store))
        store = open_feature_store(target)
        contract = stored_contract(store, marker["feature_service"])
        views = {view.name: pd.read_parquet(target / DATA_DIR / f"{view.name}.parquet") for view in contract}
        try:
            fill_online_store(store, contract, views)
            redis_client(store).set(STAMP_KEY, stamp)
        except connection_errors() as exc:
            raise ArtifactError(f"{online_store}: {store_error(exc)}") from None
    log.info("online store %s filled with %s", online_store, stamp)
    return stamp


def connection_errors() -> tuple[type[BaseException], ...]:
    """What an online read raises when the store went away or refused the credentials (as
    opposed to a bug); redis-py's AuthenticationError is a ConnectionError."""
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError, TimeoutError)


def store_error(exc: BaseException) -> str:
    """What a failed online-store call means, in one line: refused credentials or unreachable."""
    import redis

    if isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
        return (
            f"the online store refused the credentials ({exc}); give its password in ${REDIS_PASSWORD_ENV}"
            f" (and an ACL user in ${REDIS_USERNAME_ENV})"
        )
    return f"the online store is unreachable ({type(exc).__name__}: {exc})"


def online_store_problem(store, repo: Path) -> str | None:
    """Why the store's online store cannot serve REPO's features (None when it can): empty,
    another feature service, a materialization older than REPO's, or unreachable. A newer
    materialization of the same feature service serves (the same contract, fresher values):
    filling the store for the next release must not take the running one out of service."""
    config = store.config.online_store
    if getattr(config, "type", "") != "redis":
        return None
    try:
        held = redis_client(store).get(STAMP_KEY)
    except Exception as exc:  # any client error means the same to a caller: not servable now
        return store_error(exc)
    expected = materialization_id(read_marker(repo, REPO_KIND))
    if held is None:
        return f"the online store holds no materialization (expected {expected}); run the pipeline's deploy step"
    held_service, _, held_at = held.decode().partition("@")
    service, _, created_at = expected.partition("@")
    if held_service != service:
        return f"the online store holds {held.decode()}, another feature service than this deployment's {expected}"
    if held_at < created_at:  # ISO-8601 UTC timestamps of one format: their text order is their time order
        return f"the online store holds {held.decode()}, older than this deployment's {expected}"
    return None
