"""Artifacts in object storage (`s3://`, `gs://`, any fsspec URL; plain paths work the same) for
the cluster path: an input the KFP launcher did not put on local disk, the fingerprint of RAW,
and a deployment published so that a reader never sees half of it.

Credentials come from the usual environment variables of each store (for S3 and S3-compatible
stores: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from aktrec.artifacts import MARKER
from aktrec.errors import ArtifactError

COMPLETE = "_COMPLETE"  # written last into a release: every other file is there
LATEST = "LATEST"  # under a storage URI: the URI of its newest complete release, written after it
DOWNLOAD_ATTEMPTS = 4


def is_remote(uri: str) -> bool:
    """A URL of a remote store (s3://, gs://, minio://, ...), not a local path."""
    return urlsplit(str(uri)).scheme not in ("", "file")


def filesystem(uri: str):
    from fsspec.core import url_to_fs

    try:  # a fresh instance: fsspec would reuse one made under other credentials or endpoint
        return url_to_fs(str(uri), skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        raise ArtifactError(
            f"{uri}: no filesystem for this URL ({exc}); install s3fs for s3://, gcsfs for gs://"
        ) from None


def join_uri(uri: str, *parts: str) -> str:
    return "/".join([str(uri).rstrip("/"), *parts])


def fingerprint(uri: str | Path) -> str:
    """Changes whenever the files under `uri` change (names, sizes, and modification times or
    ETags): the cache key of the pipeline's first steps."""
    digest = hashlib.sha256()
    if not is_remote(str(uri)):
        root = Path(uri)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]
    fs, root = filesystem(str(uri))
    for name, info in sorted(fs.find(root, detail=True).items()):
        version = info.get("ETag") or info.get("etag") or info.get("LastModified") or info.get("mtime")
        digest.update(f"{name.removeprefix(root)}:{info.get('size')}:{version}\n".encode())
    return digest.hexdigest()[:16]


def download(fs, root: str, out: Path) -> Path:
    """Every object under `root` into the directory `out`, one file at a time, each retried with
    backoff on a transient error. Object keys are names, not paths: one that would land outside
    `out` (a `..` part, an absolute key) is refused before anything is written."""
    out = Path(out).resolve()
    prefix = root.rstrip("/") + "/"
    targets = {}
    for name in sorted(fs.find(root)):
        key = name.removeprefix(prefix)
        target = (out / key).resolve()
        if not key or key.startswith("/") or ".." in PurePosixPath(key).parts or not target.is_relative_to(out):
            raise ArtifactError(f"{name}: object key {key!r} would be written outside {out}; refusing the download")
        targets[name] = target
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                fs.get_file(name, str(target))
                break
            except (FileNotFoundError, PermissionError):
                raise
            except OSError as exc:  # s3fs retries throttling itself; this covers dropped connections
                if attempt == DOWNLOAD_ATTEMPTS - 1:
                    raise ArtifactError(f"{name}: download failed {DOWNLOAD_ATTEMPTS} times ({exc})") from None
                time.sleep(0.5 * 2**attempt)
    return out


def read_marker_at(uri: str, kind: str) -> dict[str, Any]:
    """The marker of an artifact of `kind` in object storage, or a clear error saying why not."""
    fs, root = filesystem(uri)
    path = join_uri(root, MARKER)
    if not fs.exists(path):
        raise ArtifactError(f"{uri}: not an aktrec artifact (no {MARKER}; check the URI and the store's credentials)")
    marker = json.loads(fs.cat_file(path))
    if marker.get("kind") != kind:
        raise ArtifactError(f"{uri}: holds a {marker.get('kind')!r} artifact, expected {kind!r}")
    return marker


def local_input(path: str, uri: str, scratch: Path) -> Path:
    """The local directory of an input artifact: where the KFP launcher put it (`path`), or else
    a download of `uri` into `scratch` (the local runner leaves object-storage inputs remote)."""
    if Path(path).exists():
        return Path(path)
    if not is_remote(uri):
        raise ArtifactError(f"{uri}: no such input directory")
    fs, root = filesystem(uri)
    if not fs.exists(root):
        raise ArtifactError(f"{uri}: nothing there (check the URI and the store's credentials)")
    return download(fs, root, scratch)


def publish(local_dir: Path, storage_uri: str) -> str:
    """Upload `local_dir` as a new release `storage_uri/releases/<id>/` (its `_COMPLETE` marker
    last), then point `storage_uri/LATEST` at it; returns the release URI. A reader that starts
    from LATEST, or from a release with `_COMPLETE`, never sees a partial upload."""
    release = join_uri(
        storage_uri, "releases", f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    )
    fs, root = filesystem(release)
    fs.makedirs(root, exist_ok=True)
    for path in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
        target = join_uri(root, path.relative_to(local_dir).as_posix())
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)  # local paths need the folders; a no-op on S3
        fs.put_file(str(path), target)
    fs.pipe_file(join_uri(root, COMPLETE), b"")
    fs.pipe_file(join_uri(filesystem(storage_uri)[1], LATEST), release.encode())
    return release


def release_uri(storage_uri: str) -> str:
    """The newest complete release under `storage_uri` (what LATEST names)."""
    fs, root = filesystem(storage_uri)
    if not fs.exists(join_uri(root, LATEST)):
        raise ArtifactError(f"{storage_uri}: no {LATEST}; nothing was published there")
    return fs.cat_file(join_uri(root, LATEST)).decode().strip()


def fetch(uri: str, out: Path) -> Path:
    """Download a complete release to `out`, as KServe's storage initializer does with an
    InferenceService's storageUri; refuses a release without `_COMPLETE`."""
    fs, root = filesystem(uri)
    if not fs.exists(join_uri(root, COMPLETE)):
        raise ArtifactError(f"{uri}: not a complete release (no {COMPLETE})")
    out.mkdir(parents=True, exist_ok=True)
    download(fs, root, out)
    return out
