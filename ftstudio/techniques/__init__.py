"""Technique registry: every module in this package that calls ``register`` is a technique.

Adding a technique = adding one file here; it is discovered by name.
"""
from __future__ import annotations

import importlib
import pkgutil

from ftstudio.engine.errors import UserError
from ftstudio.techniques.base import (
    _REGISTRY,
    TECHNIQUE_MODULES,
    ParamSpec,
    Technique,
    build_params,
    param,
    param_specs,
    params_to_dict,
    register,
)
from ftstudio.i18n import _t

__all__ = [
    "ParamSpec",
    "Technique",
    "all_techniques",
    "build_params",
    "get_technique",
    "make_technique",
    "param",
    "param_specs",
    "params_to_dict",
    "register",
]

_loaded = False
# Modules of this package that are not techniques: the interface and the run loader.
NOT_TECHNIQUES = ("base", "loading")


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name not in NOT_TECHNIQUES and not m.name.startswith("_")]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    _loaded = True


def all_techniques() -> list[type[Technique]]:
    """Registered techniques in the order users see them."""
    _discover()
    order = {n: i for i, n in enumerate(TECHNIQUE_MODULES)}
    return sorted(_REGISTRY.values(), key=lambda c: (order.get(c.name, len(order)), c.name))


def get_technique(name: str) -> type[Technique]:
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(
            _t("unknown technique '{name}'; available: {items}",
               name=name, items=', '.join(c.name for c in all_techniques())),
            where="technique", field="technique.name"
        ) from None


def make_technique(name: str, params: dict | None) -> Technique:
    cls = get_technique(name)
    return cls(build_params(cls.Params, params, name))
