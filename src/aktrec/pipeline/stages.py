"""The training pipeline's stages, each declared by its component.

`components/<name>/component.py` holds the KFP component `<name>` and, when it is a stage of the
training pipeline, a `STAGE = Stage(...)` beside it: how people name it, where its validation
summary lives, which section of the pipeline config it reads, and which stage's output an input
reads where the input's name alone does not say. The rest follows from the components: the
pipeline's wiring (an artifact input reads the one output of its name) and its `<section>_config`
parameters, the sections the steps read, the run report's validation pages and the runner's
progress lines. A new stage is two files: its run function and its component.
"""

from __future__ import annotations

import functools
import graphlib
import inspect
from dataclasses import dataclass, field, replace
from importlib import import_module, resources
from pathlib import Path
from typing import Any

from aktrec.errors import AktrecError

RAW = "raw"  # the artifact the pipeline imports; every other artifact is a stage's output


@dataclass(frozen=True)
class Stage:
    title: str  # how the report and the validation pages name it
    artifact: str  # the run report's key for the artifact that holds its validation summary
    validation: str = "validation"  # that summary's directory inside the artifact ("" = the artifact itself)
    config_section: str | None = None  # its section of the pipeline config, None = takes no config
    config: type | None = None  # the settings that section holds
    # input -> the stage whose output of the same name it reads ("stage") or another output
    # ("stage.output"), where more than one stage writes an output of that name
    reads: dict[str, str] = field(default_factory=dict)
    # stages whose outputs this one's outputs of the same name stand in for, for every reader
    replaces: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # stages that must finish first although it reads nothing of theirs
    # Filled in when the stages are read: the component's folder, the component (its Python
    # function inside a task, `aktrec.pipeline.component`), and where each artifact input comes
    # from ("stage.output", or RAW).
    name: str = ""
    component: Any = field(default=None, compare=False, repr=False)
    sources: dict[str, str] = field(default_factory=dict)

    def validation_dir(self, artifact_dir: str | Path) -> Path:
        return Path(artifact_dir) / self.validation

    @property
    def inputs(self) -> list[str]:
        """The component's artifact inputs."""
        return [name for name, kind in self._signature().items() if kind == "input"]

    @property
    def outputs(self) -> list[str]:
        """The component's artifact outputs."""
        return [name for name, kind in self._signature().items() if kind == "output"]

    @property
    def parameters(self) -> dict[str, str]:
        """The component's parameter inputs -> the pipeline parameters they take."""
        names = [name for name, kind in self._signature().items() if kind == "parameter"]
        return {name: f"{self.config_section}_config" if name == "config" else name for name in names}

    def _signature(self) -> dict[str, str]:
        """Each argument of the component's function -> input, output (artifacts) or parameter."""
        from kfp.dsl.types.type_annotations import is_artifact_wrapped_in_Input, is_artifact_wrapped_in_Output

        function = getattr(self.component, "python_func", self.component)
        kinds = {}
        for name, argument in inspect.signature(function, eval_str=True).parameters.items():
            if is_artifact_wrapped_in_Input(argument.annotation):
                kinds[name] = "input"
            elif is_artifact_wrapped_in_Output(argument.annotation):
                kinds[name] = "output"
            else:
                kinds[name] = "parameter"
        return kinds

    def arguments(self, outputs: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """The component's arguments in a pipeline: each artifact input from the output it reads
        (`outputs` keyed "stage.output", and RAW), each parameter from the run's parameters
        (`config` from its section's `<section>_config`, any other from the one of its name)."""
        unknown = [name for name, parameter in self.parameters.items() if parameter not in run]
        if unknown:
            raise AktrecError(
                f"stage {self.name} (components/{self.name}/component.py): parameter(s) {unknown} "
                f"are not parameters of the pipeline; it has {sorted(run)}"
            )
        return {
            **{name: outputs[source] for name, source in self.sources.items()},
            **{name: run[parameter] for name, parameter in self.parameters.items()},
        }


@functools.cache
def training_stages() -> tuple[Stage, ...]:
    """Every component that declares a STAGE, each after the stages it reads from."""
    declared: dict[str, Stage] = {}
    for folder in sorted(resources.files("aktrec.components").iterdir(), key=lambda entry: entry.name):
        if not folder.joinpath("component.py").is_file():
            continue
        module = import_module(f"aktrec.components.{folder.name}.component")
        if isinstance(stage := getattr(module, "STAGE", None), Stage):
            declared[folder.name] = replace(stage, name=folder.name, component=getattr(module, folder.name))
    return wired(declared)


def wired(declared: dict[str, Stage]) -> tuple[Stage, ...]:
    """The stages `declared` (name -> stage with its component), each with the outputs its
    inputs read, in an order where each comes after the stages it reads from."""
    wired = {name: replace(stage, sources=_sources(stage, declared)) for name, stage in declared.items()}
    graph = {
        name: {source.split(".")[0] for source in stage.sources.values() if source != RAW} | set(stage.after)
        for name, stage in wired.items()
    }
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AktrecError(f"pipeline stages: they read from each other in a circle: {exc.args[1]}") from None
    return tuple(wired[name] for name in order)


def _sources(stage: Stage, stages: dict[str, Stage]) -> dict[str, str]:
    """Each artifact input of `stage` -> the output it reads, "stage.output" (or RAW)."""
    where = f"stage {stage.name} (components/{stage.name}/component.py)"
    for name in (*stage.after, *stage.replaces):
        if name not in stages:
            raise AktrecError(f"{where}: names {name!r}, which is not a stage; stages: {sorted(stages)}")
    if "config" in stage.parameters and stage.config_section is None:
        raise AktrecError(f"{where}: takes `config` but declares no config_section")
    sources = {}
    for name in stage.inputs:
        if name == RAW and name not in stage.reads:
            sources[name] = RAW
            continue
        producer, _, output = stage.reads.get(name, "").partition(".")
        output = output or name
        replaced = {old for other in stages.values() if output in other.outputs for old in other.replaces}
        candidates = [producer] if producer else [other for other in stages if other not in replaced]
        writers = [other for other in candidates if other in stages and output in stages[other].outputs]
        if len(writers) != 1:
            raise AktrecError(
                f"{where}: input {name!r} needs one stage writing {output!r}, found {writers or 'none'}; "
                "name it in STAGE.reads as 'stage' or 'stage.output'"
            )
        sources[name] = f"{writers[0]}.{output}"
    return sources


def stage_named(name: str) -> Stage:
    for candidate in training_stages():
        if candidate.name == name:
            return candidate
    raise AktrecError(f"unknown stage {name!r}; stages: {[s.name for s in training_stages()]}")


def config_sections() -> dict[str, type]:
    """Each section of the pipeline config -> the settings it holds, in the stages' order."""
    return {stage.config_section: stage.config for stage in training_stages() if stage.config_section}
