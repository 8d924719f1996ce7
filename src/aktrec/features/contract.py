"""What a FeatureService promises, in the form training and serving read it: per view, its
join keys, its features and which of them are lists.

Built from the declared objects (`definitions.feature_service`) when a repository is written,
and from a repository's registry when it is read, so a model reads the views its repository
actually serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from aktrec.features import names as feature_names


@dataclass(frozen=True)
class ViewContract:
    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    list_features: frozenset[str]
    vector_features: frozenset[str] = frozenset()  # lists of floats (representations)

    @property
    def columns(self) -> list[str]:
        """Output columns of the features in retrieved frames."""
        return [feature_names.output_column(self.name, feature) for feature in self.features]

    @property
    def refs(self) -> list[str]:
        """Feast feature references (`view:feature`)."""
        return [f"{self.name}:{feature}" for feature in self.features]

    def defaults(self, values: list) -> list:
        """Absent features read as zeros and empty lists (an entity not seen before the time)."""
        return [
            ([] if value is None else value) if feature in self.list_features else (0.0 if value is None else value)
            for feature, value in zip(self.features, values)
        ]


def contract_of(service, views: dict[str, object]) -> list[ViewContract]:
    """The contract of a Feast FeatureService; `views`: view name -> FeatureView (for join keys)."""
    from feast.types import Array, Float32, Float64

    out = []
    for projection in service.feature_view_projections:
        view = views[projection.name]
        out.append(
            ViewContract(
                name=projection.name,
                join_keys=tuple(view.join_keys),
                features=tuple(field.name for field in projection.features),
                list_features=frozenset(field.name for field in projection.features if isinstance(field.dtype, Array)),
                vector_features=frozenset(
                    field.name
                    for field in projection.features
                    if isinstance(field.dtype, Array) and field.dtype.base_type in (Float32, Float64)
                ),
            )
        )
    return out


def declared_contract(model_version: str) -> list[ViewContract]:
    from aktrec.features.definitions import FEATURE_VIEWS, feature_service

    return contract_of(feature_service(model_version), {view.name: view for view in FEATURE_VIEWS})


def stored_contract(store, service_name: str) -> list[ViewContract]:
    """The contract of a FeatureService as applied to a repository's registry."""
    service = store.get_feature_service(service_name)
    views = {p.name: store.get_feature_view(p.name) for p in service.feature_view_projections}
    return contract_of(service, views)
