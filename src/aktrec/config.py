"""Typed configs per stage, with defaults that run on a laptop, loadable from YAML.

Where the paper sets a value differently, the field's comment says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from aktrec.errors import AktrecError

T = TypeVar("T")


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic long-tail data set (the embedded default of the demo and tests)."""

    n_users: int = 2_000
    n_items: int = 1_000
    n_interactions: int = 60_000  # impressions, clicks and non-clicks
    n_days: int = 30
    seed: int = 0
    item_popularity_exponent: float = 1.1  # Zipf exponent of item exposure weights
    user_activity_sigma: float = 1.5  # log-normal spread of impressions per user (larger = longer tail)
    latent_dim: int = 16
    interest_affinity: float = 3.0  # weight of user-item latent match in the click logit
    base_click_logit: float = -3.0  # sets the overall click rate (~8% with the defaults)
    interest_exposure_share: float = 0.5  # share of impressions drawn from the user's interests

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_interactions", "n_days", "latent_dim"):
            if getattr(self, name) < 1:
                raise AktrecError(f"synth config: {name} must be >= 1, got {getattr(self, name)}")
        if self.n_interactions < self.n_users:
            raise AktrecError(
                f"synth config: n_interactions ({self.n_interactions}) must be >= n_users ({self.n_users}):"
                " every user gets at least one impression"
            )
        if not 0.0 <= self.interest_exposure_share <= 1.0:
            raise AktrecError("synth config: interest_exposure_share must be in [0, 1]")


@dataclass(frozen=True)
class NegativeSamplingConfig:
    """Negatives for positive-only data: `ratio` per positive, never an item the user clicked.

    `popularity` draws items proportionally to (training clicks + 1) ** exponent; `uniform`
    draws every item equally. The choice decides what popularity alone predicts (DESIGN §1),
    so it is recorded in the data card.
    """

    ratio: int = 4
    strategy: Literal["uniform", "popularity"] = "uniform"
    exponent: float = 1.0

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise AktrecError(f"negative sampling: ratio must be >= 1, got {self.ratio}")
        if self.strategy not in ("uniform", "popularity"):
            raise AktrecError(f"negative sampling: unknown strategy {self.strategy!r}")


@dataclass(frozen=True)
class TailConfig:
    """Head/tail thresholds, counted on the training window (paper defaults)."""

    tail_user_max_interactions: int = 5  # tail user: fewer training interactions than this
    tail_item_max_exposures: int = 10  # tail item: fewer training exposures than this


@dataclass(frozen=True)
class SplitConfig:
    method: Literal["time", "leave-last-out"] = "time"
    test_days: float = 3.0  # time split: the last `test_days` days are the test window

    def __post_init__(self) -> None:
        if self.method not in ("time", "leave-last-out"):
            raise AktrecError(f"split: unknown method {self.method!r} (use 'time' or 'leave-last-out')")
        if self.test_days <= 0:
            raise AktrecError(f"split: test_days must be > 0, got {self.test_days}")


@dataclass(frozen=True)
class PrepareConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    negatives: NegativeSamplingConfig = field(default_factory=NegativeSamplingConfig)
    tail: TailConfig = field(default_factory=TailConfig)
    seed: int = 0


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build dataclass `cls` from a plain dict, recursing into nested configs.

    Unknown keys are an error (a typo must not silently fall back to a default).
    """
    data = dict(data or {})
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise AktrecError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise AktrecError(f"{where}.{key}: expected a mapping, got {value!r}")
            kwargs[key] = from_dict(hint, value, f"{where}.{key}")
        elif get_origin(hint) is Literal:
            if value not in get_args(hint):
                raise AktrecError(f"{where}.{key}: {value!r} is not one of {list(get_args(hint))}")
            kwargs[key] = value
        elif hint in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise AktrecError(f"{where}.{key}: expected a number, got {value!r}")
        else:
            kwargs[key] = hint(value) if hint in (int, float, str) else value
    return cls(**kwargs)


def load_config(cls: type[T], path: str | Path | None) -> T:
    """`cls` from a YAML file (or its defaults when `path` is None)."""
    if path is None:
        return cls()
    path = Path(path)
    if not path.is_file():
        raise AktrecError(f"config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AktrecError(f"config {path}: not valid YAML ({exc})") from None
    if data is not None and not isinstance(data, dict):
        raise AktrecError(f"config {path}: expected a mapping at the top level")
    return from_dict(cls, data, where=str(path))


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
