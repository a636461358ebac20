"""Size classes derived from an enterprise's inputs under a named regime; the regimes are data."""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from shared.events.vocabulary import SizeClass

_COMPARE = {"lt": operator.lt, "le": operator.le, "ge": operator.ge, "gt": operator.gt}


@dataclass(frozen=True)
class Regime:
    name: str
    title: str
    requires: tuple[str, ...]
    rules: tuple[tuple[SizeClass, tuple[tuple[str, str, int], ...]], ...]
    otherwise: SizeClass

    def classify(self, inputs: Mapping[str, int | None]) -> SizeClass | None:
        """The class the inputs give, or None when an input the regime requires is missing."""
        if any(inputs.get(field) is None for field in self.requires):
            return None
        for size_class, conditions in self.rules:
            if all(
                inputs.get(field) is not None and _COMPARE[op](inputs[field], bound)
                for field, op, bound in conditions
            ):
                return size_class
        return self.otherwise


@cache
def regimes() -> dict[str, Regime]:
    raw = json.loads(
        resources.files("services.registry.reference").joinpath("size_regimes.json").read_text()
    )
    return {
        name: Regime(
            name=name,
            title=spec["title"],
            requires=tuple(spec["requires"]),
            rules=tuple(
                (
                    SizeClass(rule["class"]),
                    tuple(
                        (c["field"], op, int(c[op]))
                        for c in rule["all"]
                        for op in _COMPARE
                        if op in c
                    ),
                )
                for rule in spec["rules"]
            ),
            otherwise=SizeClass(spec["otherwise"]),
        )
        for name, spec in raw["regimes"].items()
    }


@cache
def default_regime() -> str:
    raw = json.loads(
        resources.files("services.registry.reference").joinpath("size_regimes.json").read_text()
    )
    return str(raw["default"])
