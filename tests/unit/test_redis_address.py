"""Online-store URIs: user, password, TLS and database parse; credentials never reach a file,
an error message or a run parameter."""

from __future__ import annotations

import pytest

from aktrec.errors import AktrecError
from aktrec.features.repo import (
    REDIS_PASSWORD_ENV,
    REDIS_USERNAME_ENV,
    RedisAddress,
    redis_credential_options,
    store_yaml,
    take_redis_credentials,
)


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("redis://cache:6380", ("cache", 6380, 0, False, None, None)),
        ("redis://cache", ("cache", 6379, 0, False, None, None)),
        ("rediss://app:p%40ss@cache.example.com:6390/2", ("cache.example.com", 6390, 2, True, "app", "p@ss")),
        ("redis://:only-a-password@10.0.0.7", ("10.0.0.7", 6379, 0, False, None, "only-a-password")),
    ],
)
def test_uris_with_user_password_tls_and_database_parse(uri, expected):
    address = RedisAddress.parse(uri)
    assert (address.host, address.port, address.db, address.tls, address.username, address.password) == expected
    assert "@" not in address.uri and (address.password or "-") not in address.uri


@pytest.mark.parametrize(
    "uri, message",
    [
        ("http://cache:6379", "use 'sqlite' or redis://HOST:PORT"),
        ("redis://:hunter2@cache:notaport", "the port is not a number"),
        ("redis://:hunter2@cache:6379/zero", "expected redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]"),
    ],
)
def test_a_bad_uri_is_refused_by_name_without_echoing_the_password(uri, message):
    with pytest.raises(AktrecError) as error:
        RedisAddress.parse(uri)
    assert message in str(error.value) and "hunter2" not in str(error.value)


def test_credentials_move_from_the_uri_to_the_environment_and_never_into_feature_store_yaml(monkeypatch):
    monkeypatch.delenv(REDIS_USERNAME_ENV, raising=False)
    monkeypatch.delenv(REDIS_PASSWORD_ENV, raising=False)
    assert take_redis_credentials("rediss://app:pa%22ss@cache:6390/1") == "rediss://cache:6390/1"
    assert redis_credential_options() == ',username="app",password="pa\\"ss"'  # JSON-quoted, as Feast reads them
    text = store_yaml("rediss://cache:6390/1")
    assert "cache:6390,db=1,ssl=true" in text and 'pa"ss' not in text and "app" not in text
    with pytest.raises(AktrecError, match="credentials in the URI would be written"):
        store_yaml("redis://:pass@cache:6379")
    monkeypatch.setenv(REDIS_PASSWORD_ENV, "a,b")
    with pytest.raises(AktrecError, match="contains a comma"):
        redis_credential_options()


def test_submitting_a_uri_with_a_password_is_refused_before_anything_is_compiled(tmp_path):
    from aktrec.pipeline.runner import submit

    with pytest.raises(AktrecError, match="would become a run parameter") as error:
        submit("http://kfp.invalid", "s3://b/raw", None, "e", None, "s3://b/deploy", "redis://:hunter2@cache:6379")
    assert "hunter2" not in str(error.value)
