"""Time left in a run, from its Plan: every pass still to come (training of each task, EWC's
Fisher pass, the evaluations, export), not only the steps of the task training now.

    clock = PlanClock()
    for ev in events: clock.feed(ev)      # Plan, Phase, Step, Progress (objects or their dicts)
    clock.eta()                           # seconds, or None before anything was measured

Each phase's ``cost`` (example passes) is timed at the rate measured for phases of its name
(training, evaluating, Fisher), else at the rate measured so far over all phases: so before the
first Fisher pass its time comes from the training's, and is corrected as soon as it runs.
No Qt: the studio's run page and the CLI's progress line both use it.
"""
from __future__ import annotations

import time
from typing import Any, Callable


def _get(ev: Any, key: str, default: Any = None) -> Any:
    return ev.get(key, default) if isinstance(ev, dict) else getattr(ev, key, default)


class PlanClock:
    def __init__(self, now: Callable[[], float] = time.monotonic):
        self.now = now
        self.phases: list[dict] = []
        self.current = -1
        self._since = 0.0
        self._units = 0.0           # work done in the current phase (its own units)
        self._sub: tuple[Any, int, int] = (None, 0, 0)  # the current progress pass: what, done, total
        self._acc = 0               # earlier progress passes of this phase (a sequence's evaluations)
        self.spent: dict[str, list[float]] = {}  # phase name -> [seconds, cost] of finished phases

    # -- events -------------------------------------------------------------------------------
    def feed(self, ev: Any) -> None:
        kind = ev.get("event") if isinstance(ev, dict) else getattr(ev, "kind", None)
        if kind == "plan":
            self.phases = [dict(p) for p in _get(ev, "phases", []) or []]
            self.current = -1
        elif kind == "phase":
            self._close()
            self.current = int(_get(ev, "index", 0))
            self._since, self._units, self._acc, self._sub = self.now(), 0.0, 0, (None, 0, 0)
        elif kind == "step":
            ph = self._phase()
            if ph is not None and ph.get("name") == "training":
                self._units = float(int(_get(ev, "step", 0)) - int(ph.get("start", 0)))
        elif kind == "progress":
            ph = self._phase()
            if ph is not None and ph.get("name") != "training":
                what, done, total = _get(ev, "what"), int(_get(ev, "done", 0)), int(_get(ev, "total", 0))
                last_what, last_done, last_total = self._sub
                if last_what is not None and (what != last_what or done < last_done):
                    self._acc += last_total  # the previous pass (another task's evaluation) ended
                self._sub = (what, done, total)
                self._units = float(self._acc + done)
        elif kind == "finished":
            self._close()
            self.current = len(self.phases)

    def _phase(self) -> dict | None:
        return self.phases[self.current] if 0 <= self.current < len(self.phases) else None

    def _close(self) -> None:
        ph = self._phase()
        if ph is not None:
            s = self.spent.setdefault(ph.get("name", ""), [0.0, 0.0])
            s[0] += self.now() - self._since
            s[1] += float(ph.get("cost", 0.0))

    # -- estimates ----------------------------------------------------------------------------
    def _fraction(self, ph: dict) -> float:
        work = float(ph.get("work") or 0)
        return min(1.0, self._units / work) if work > 0 else 0.0

    def _rates(self) -> tuple[dict[str, float], float | None]:
        """Seconds per example pass: by phase name, and over everything measured."""
        seconds = {k: v[0] for k, v in self.spent.items()}
        cost = {k: v[1] for k, v in self.spent.items()}
        ph = self._phase()
        if ph is not None:
            frac = self._fraction(ph)
            if frac > 0 and ph.get("cost"):
                name = ph.get("name", "")
                seconds[name] = seconds.get(name, 0.0) + self.now() - self._since
                cost[name] = cost.get(name, 0.0) + frac * float(ph["cost"])
        by_name = {k: seconds[k] / cost[k] for k in seconds if cost.get(k, 0) > 0}
        total_cost = sum(c for c in cost.values())
        overall = sum(seconds[k] for k in seconds if cost.get(k, 0) > 0) / total_cost if total_cost > 0 else None
        return by_name, overall

    def eta(self) -> float | None:
        """Seconds the passes still to come need (the current one's rest included); None while
        there is no plan or nothing has been measured yet."""
        ph = self._phase()
        if ph is None:
            return None if self.current < len(self.phases) or not self.phases else 0.0
        by_name, overall = self._rates()
        if overall is None:
            return None
        left = 0.0
        for i in range(self.current, len(self.phases)):
            p = self.phases[i]
            rest = float(p.get("cost") or 0.0) * ((1.0 - self._fraction(p)) if i == self.current else 1.0)
            left += rest * by_name.get(p.get("name", ""), overall)
        return left

    def phase_name(self) -> str:
        ph = self._phase()
        return str(ph.get("name", "")) if ph else ""
