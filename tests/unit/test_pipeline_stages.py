"""The training stages wire themselves from their components' signatures
(`aktrec.pipeline.stages`): each artifact input reads the one output of its name, and a stage
declared wrongly is an error that names its component."""

from __future__ import annotations

from dataclasses import replace

import pytest
from kfp.dsl import Dataset, Input, Output

from aktrec.errors import AktrecError
from aktrec.pipeline.stages import Stage, training_stages, wired


def test_the_shipped_stages_in_order_with_what_each_reads():
    stages = {stage.name: stage for stage in training_stages()}
    assert list(stages) == [
        "validate_raw",
        "prepare",
        "embed_items",
        "embed_users",
        "semantic_ids",
        "materialize_features",
        "train",
    ]
    # embed_users' EMB (both halves) stands in for embed_items' for every later reader.
    assert stages["embed_users"].sources["item_embeddings"] == "embed_items.embeddings"
    assert stages["train"].sources == {
        "data": "prepare.data",
        "feature_repo": "materialize_features.feature_repo",
        "semantic_ids": "semantic_ids.semantic_ids",
        "embeddings": "embed_users.embeddings",
    }
    assert stages["embed_items"].parameters == {
        "config": "embed_items_config",
        "representation_cache": "representation_cache",
    }


def source(raw: Input[Dataset], table: Output[Dataset]): ...


def copy(raw: Input[Dataset], table: Output[Dataset]): ...


def reader(table: Input[Dataset], summary: Output[Dataset]): ...


def loop_a(summary: Input[Dataset], table: Output[Dataset]): ...


def named(declarations: dict) -> dict[str, Stage]:
    return {
        name: replace(Stage(name, artifact=name, **options), name=name, component=function)
        for name, (function, options) in declarations.items()
    }


def test_an_input_two_stages_write_must_name_its_producer():
    both = {"source": (source, {}), "copy": (copy, {}), "reader": (reader, {})}
    with pytest.raises(
        AktrecError, match=r"stage reader .*input 'table' needs one stage writing 'table', found \['source', 'copy'\]"
    ):
        wired(named(both))
    both["reader"] = (reader, {"reads": {"table": "copy"}})
    assert [stage.name for stage in wired(named(both))][-1] == "reader"
    assert {s.name: s.sources for s in wired(named(both))}["reader"] == {"table": "copy.table"}
    both["copy"] = (copy, {"replaces": ("source",)})
    both["reader"] = (reader, {})
    assert {s.name: s.sources for s in wired(named(both))}["reader"] == {"table": "copy.table"}


def test_stages_that_read_each_other_in_a_circle_are_an_error():
    circle = {"reader": (reader, {}), "loop_a": (loop_a, {})}
    with pytest.raises(AktrecError, match="read from each other in a circle"):
        wired(named(circle))


def test_a_parameter_the_pipeline_does_not_have_is_an_error():
    def odd(raw: Input[Dataset], threshold: float, config: str, table: Output[Dataset]): ...

    with pytest.raises(AktrecError, match="takes `config` but declares no config_section"):
        wired(named({"odd": (odd, {})}))
    [stage] = wired(named({"odd": (odd, {"config_section": "odd"})}))
    run = {"raw_uri": "", "odd_config": ""}
    with pytest.raises(
        AktrecError, match=r"stage odd .*parameter\(s\) \['threshold'\] are not parameters of the pipeline"
    ):
        stage.arguments({"raw": "the importer's output"}, run)
    assert stage.arguments({"raw": "out"}, {**run, "threshold": 0.5}) == {"raw": "out", "threshold": 0.5, "config": ""}
    with pytest.raises(AktrecError, match="names 'nowhere', which is not a stage"):
        wired(named({"source": (source, {"after": ("nowhere",)})}))
