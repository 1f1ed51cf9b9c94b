"""Test helper: how many nodes of one kind a tensor's autograd graph holds."""
from __future__ import annotations

from typing import Any


def count_nodes(t: Any, name: str) -> int:
    """Nodes named ``name`` (e.g. 'LowRankLinearBackward') in the graph behind ``t``."""
    seen, todo, n = set(), [t.grad_fn], 0
    while todo:
        f = todo.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        n += type(f).__name__ == name
        todo.extend(g for g, _ in f.next_functions)
    return n
