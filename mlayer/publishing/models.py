"""Plain frozen value types shared by the planner, the relinker, the API and the renderers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.gateway.views import FunctionConfig
from mlayer.runtimes import MAX_LAYERS, MAX_UNZIPPED_BYTES


@dataclass(frozen=True)
class LayerArtifact:
    """One file of the model layer's pipeline, as the manifest records it."""

    file: str  # name inside mlayer/ (e.g. 00-countvectorizer.joblib)
    role: str  # preprocessor | model
    sha256: str
    size: int
    cls: str  # dotted class name of the pickled object
    sklearn_version: str | None
    globals: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionLayers:
    """A function's layer list as read (the relinker re-reads the RevisionId when it writes)."""

    arns: tuple[str, ...]
    code_size: int = 0  # the function's own zipped code size (unzipped when known)

    @classmethod
    def of(cls, config: FunctionConfig) -> FunctionLayers:
        return cls(arns=config.layer_arns, code_size=config.code_size)


@dataclass(frozen=True)
class LayerSize:
    """Unzipped bytes of one layer version; ``exact`` False when only the zipped size was known,
    ``known`` False when nothing is (another account's layer the embedded AWS cannot read)."""

    unzipped: int
    exact: bool = True
    known: bool = True


@dataclass(frozen=True)
class RelinkPlan:
    """What a relink will do: the layer list before and after, and the budget it leaves."""

    function: str
    layer_name: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    old_arn: str | None
    new_arn: str
    total_unzipped: int
    sizes_exact: bool = True
    limit_bytes: int = MAX_UNZIPPED_BYTES
    max_layers: int = MAX_LAYERS
    unknown_sizes: tuple[str, ...] = ()  # layers counted as 0: their size cannot be read here

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def budget_left(self) -> int:
        return self.limit_bytes - self.total_unzipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "layer_name": self.layer_name,
            "changed": self.changed,
            "old_arn": self.old_arn,
            "new_arn": self.new_arn,
            "before": list(self.before),
            "after": list(self.after),
            "total_unzipped": self.total_unzipped,
            "sizes_exact": self.sizes_exact,
            "budget_left": self.budget_left,
            "unknown_sizes": list(self.unknown_sizes),
        }


@dataclass(frozen=True)
class RelinkOutcome:
    """What the relinker did: the configuration's RevisionId after, attempts, and the alias move."""

    revision_id: str | None
    attempts: int
    function_version: str | None = None
    alias: str | None = None
    reused_version: bool = False  # the alias went to an existing version: none published
