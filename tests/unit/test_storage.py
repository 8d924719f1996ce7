"""Publishing a release and reading it back, on the local filesystem (the same code path as
s3://, which the cluster-path rehearsal covers with an S3 server)."""

from __future__ import annotations

import pytest

from aktrec.errors import ArtifactError
from aktrec.storage import COMPLETE, LATEST, fetch, fingerprint, is_remote, publish, release_uri


def test_a_release_is_complete_before_latest_names_it_and_fetches_whole(tmp_path):
    unit = tmp_path / "unit"
    (unit / "model" / "vocab").mkdir(parents=True)
    (unit / "model" / "vocab" / "item.parquet").write_bytes(b"x" * 10)
    (unit / "feature_repo").mkdir()
    (unit / "feature_repo" / "feature_store.yaml").write_text("project: aktrec\n")
    store = tmp_path / "store"
    first = publish(unit, str(store))
    assert release_uri(str(store)) == first and (store / LATEST).read_text() == first
    assert (tmp_path / "store" / first.split("/store/", 1)[1] / COMPLETE).exists()
    copy = fetch(first, tmp_path / "mnt")
    assert (copy / "model" / "vocab" / "item.parquet").read_bytes() == b"x" * 10
    second = publish(unit, str(store))
    assert second != first and release_uri(str(store)) == second  # a new release, the old one kept
    (tmp_path / "partial").mkdir()
    with pytest.raises(ArtifactError, match="not a complete release"):
        fetch(str(tmp_path / "partial"), tmp_path / "mnt2")
    with pytest.raises(ArtifactError, match="nothing was published there"):
        release_uri(str(tmp_path / "empty"))


def test_fingerprint_follows_content_and_urls_are_told_from_paths(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    before = fingerprint(tmp_path)
    (tmp_path / "a.txt").write_text("three")
    assert fingerprint(tmp_path) != before
    assert is_remote("s3://bucket/raw") and is_remote("gs://b/x") and not is_remote(str(tmp_path))


class KeyedStore:
    """A stand-in object store: literal keys (as S3 keeps them, `..` and all) and a number of
    dropped connections before each file comes through."""

    def __init__(self, keys: list[str], drops: int = 0) -> None:
        self.keys, self.drops = keys, drops

    def find(self, root: str) -> list[str]:
        return [f"{root}/{key}" for key in self.keys]

    def get_file(self, name: str, target: str) -> None:
        if self.drops:
            self.drops -= 1
            raise ConnectionResetError("connection reset by peer")
        with open(target, "w") as out:
            out.write(name)


@pytest.mark.parametrize("key", ["../escape.txt", "model/../../escape.txt", "/etc/escape.txt"])
def test_a_download_refuses_keys_that_leave_its_directory_before_writing_anything(tmp_path, key):
    from aktrec.storage import download

    out = tmp_path / "deep" / "out"
    with pytest.raises(ArtifactError, match="would be written outside"):
        download(KeyedStore(["model/a.txt", key]), "bucket/release", out)
    assert not any(tmp_path.rglob("*.txt"))


def test_a_download_retries_dropped_connections_and_gives_up_with_the_reason(tmp_path, monkeypatch):
    import aktrec.storage as storage

    monkeypatch.setattr(storage.time, "sleep", lambda seconds: None)
    out = storage.download(KeyedStore(["model/a.txt"], drops=2), "bucket/release", tmp_path / "out")
    assert (out / "model" / "a.txt").read_text() == "bucket/release/model/a.txt"
    with pytest.raises(ArtifactError, match="download failed 4 times .connection reset by peer"):
        storage.download(KeyedStore(["a.txt"], drops=9), "bucket/release", tmp_path / "again")
