"""A materialized Feast repository on disk: its layout, its `feature_store.yaml` and the
definitions module Feast scans (the objects themselves are declared in `definitions`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from aktrec.errors import AktrecError, ArtifactError
from aktrec.features import names as feature_names

REPO_KIND = "feature_repo"  # artifact kind of a materialized repository
DATA_DIR = "data"  # offline tables live in <repo>/data/<view>.parquet (paths relative to the repo)
# The keys each view not keyed by the user holds online, <repo>/online_keys/<view>.parquet: the
# predictor warms its cache from them (a deployed repository has no offline tables to list them).
ONLINE_KEYS_DIR = "online_keys"
# The Redis credentials of every reader and writer of a shared online store: in the cluster from
# the `aktrec-redis` Secret (manifests/base), never in a URI, a release or a run parameter.
REDIS_USERNAME_ENV, REDIS_PASSWORD_ENV = "AKTREC_REDIS_USERNAME", "AKTREC_REDIS_PASSWORD"
REDIS_SECRET = "aktrec-redis"  # its key `password`: Redis's requirepass and every client's password


@dataclass(frozen=True)
class RedisAddress:
    """A Redis online store: `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]`, `rediss://` with TLS."""

    host: str
    port: int
    db: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, uri: str) -> RedisAddress:
        parts = urlsplit(uri)
        if parts.scheme not in ("redis", "rediss"):
            raise AktrecError(f"online store {uri!r}: use 'sqlite' or redis://HOST:PORT (rediss:// with TLS)")
        shown = f"{parts.scheme}://{parts.hostname or ''}..."  # never the password in an error
        try:
            port = parts.port or 6379
        except ValueError:
            raise AktrecError(f"online store {shown}: the port is not a number") from None
        db = parts.path.strip("/") or "0"
        if not parts.hostname or not db.isdigit():
            raise AktrecError(f"online store {shown}: expected {parts.scheme}://[USER[:PASSWORD]@]HOST[:PORT][/DB]")
        return cls(
            host=parts.hostname,
            port=port,
            db=int(db),
            tls=parts.scheme == "rediss",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def uri(self) -> str:
        """The address without credentials: what may be logged, stored or passed on."""
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}" + (f"/{self.db}" if self.db else "")

    @property
    def connection_string(self) -> str:
        """Feast's form, without credentials."""
        return f"{self.host}:{self.port},db={self.db}" + (",ssl=true" if self.tls else "")


def take_redis_credentials(online_store: str) -> str:
    """`online_store` without its user and password, which move to this process's environment
    (and so to the pipeline steps it starts), where every store reader finds them."""
    if not online_store.startswith(("redis://", "rediss://")) or "${" in online_store:
        return online_store
    address = RedisAddress.parse(online_store)
    if address.username:
        os.environ[REDIS_USERNAME_ENV] = address.username
    if address.password:
        os.environ[REDIS_PASSWORD_ENV] = address.password
    return address.uri


def redis_credential_options() -> str:
    """The credentials from the environment as options of Feast's connection string (values
    JSON-quoted, as Feast reads them; a comma would end the option)."""
    options = ""
    for option, variable in (("username", REDIS_USERNAME_ENV), ("password", REDIS_PASSWORD_ENV)):
        value = os.environ.get(variable)
        if value:
            if "," in value:
                raise AktrecError(f"${variable}: contains a comma, which Feast's Redis connection string cannot carry")
            options += f",{option}={json.dumps(value)}"
    return options


def open_feature_store(repo: Path):
    """The Feast store of the repository REPO, with the Redis credentials of the environment."""
    from feast import FeatureStore
    from feast.repo_config import load_repo_config

    repo = Path(repo)
    config = load_repo_config(repo, repo / "feature_store.yaml")
    if getattr(config.online_store, "type", "") == "redis":
        config.online_store.connection_string += redis_credential_options()
    return FeatureStore(repo_path=str(repo), config=config)


def definitions_module(model_version: str) -> str:
    """The repository's `definitions.py`: the declared objects, with the model version's service."""
    return (
        '"""Feast definitions of aktrec: declared once in aktrec.features.definitions."""\n\n'
        "from aktrec.features.definitions import feast_objects\n\n"
        f"globals().update(feast_objects({json.dumps(model_version)}))\n"
    )


def store_yaml(online_store: str | None) -> str:
    """`feature_store.yaml`: file registry and offline store, with the SQLite online store by
    default or Redis (`redis://HOST:PORT[/DB]`, `rediss://` for TLS; `${VAR}` placeholders are
    kept for Feast to expand). Credentials never go into it: `open_feature_store` adds them from
    the environment."""
    if online_store is None or online_store == "sqlite":
        online = {"type": "sqlite", "path": "online_store.db"}
    elif "${" in online_store:  # expanded by Feast from the reader's environment (manifests/base)
        online = {"type": "redis", "connection_string": online_store.removeprefix("redis://")}
    else:
        address = RedisAddress.parse(online_store)
        if address.username or address.password:
            raise ArtifactError(f"{address.uri}: credentials in the URI would be written to feature_store.yaml")
        online = {"type": "redis", "connection_string": address.connection_string}
    config = {
        "project": feature_names.PROJECT,
        "registry": "registry.db",
        "provider": "local",
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    return yaml.safe_dump(config, sort_keys=False)
