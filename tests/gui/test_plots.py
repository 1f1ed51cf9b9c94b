"""Live plots keep their axes still: x spans the whole run from the first step, y moves only when
the data leaves the view (or shrinks into a corner of it), a user's pan/zoom wins, and each plot
is repainted at its own pace. The axes' tick text is most of a repaint's cost, and every repaint
is CPU the training thread shares (benchmarks/gui_bench.py)."""
from __future__ import annotations

import pytest

from ftstudio.engine.events import RunStarted, Step


@pytest.fixture
def plots(qtbot):
    from ftstudio.gui.widgets.plots import TrainingPlots

    p = TrainingPlots(live=False)
    qtbot.addWidget(p)
    p.resize(1200, 600)
    p.show()
    qtbot.waitExposed(p)
    return p


def _step(i: int, loss: float, total: int = 200, lr: float = 1e-3) -> dict:
    return Step(step=i, total_steps=total, epoch=i / total, loss=loss, lr={"all": lr}, grad_norm=1.0,
                samples_per_second=100.0, tokens_per_second=1000.0, memory={"rss": 5e8}, elapsed=i * 0.1,
                eta=1.0, extra={}, task=0).to_dict()


def _y(plot) -> tuple[float, float]:
    return tuple(plot.getViewBox().viewRange()[1])


def test_x_spans_the_whole_run_from_the_first_step(plots):
    plots.feed(RunStarted(run_dir="/tmp/x", config={}, trainable_params=1, total_params=2, device="cpu",
                          precision="fp32", total_steps=200).to_dict())
    for i in range(1, 4):
        plots.feed(_step(i, 1.0 - 0.01 * i))
    plots.redraw(all_groups=True)
    for plot in (plots.loss_plot, plots.lr_plot, plots.speed_plot):
        x0, x1 = plot.getViewBox().viewRange()[0]
        assert x0 <= 0 and 200 <= x1 <= 210, (plot, x0, x1)


def test_y_follows_the_data_but_stays_still_while_it_fits(plots, qtbot):
    for i in range(1, 11):
        plots.feed(_step(i, 1.0 - 0.02 * i))  # 0.98 … 0.80
    plots.redraw(all_groups=True)
    lo, hi = _y(plots.loss_plot)
    assert lo < 0.80 and hi > 0.98
    qtbot.wait(50)  # painted: the axis text is laid out and cached
    axis = plots.loss_plot.getAxis("left")
    assert axis.picture is not None

    for i in range(11, 20):
        plots.feed(_step(i, 0.85 + 0.01 * (i % 3)))  # inside the view
    plots.redraw(all_groups=True)
    assert _y(plots.loss_plot) == (lo, hi)
    assert axis.picture is not None  # nothing re-laid-out
    assert plots.drawn_points("loss") == 19  # …while the curve itself got the new points

    plots.feed(_step(20, 2.5))  # a spike leaves the view: the view grows to hold it
    plots.redraw(all_groups=True)
    lo2, hi2 = _y(plots.loss_plot)
    assert hi2 > 2.5 and lo2 < 0.80


def test_rates_memory_and_speed_start_at_zero(plots):
    for i in range(1, 6):
        plots.feed(_step(i, 1.0, lr=1e-3 * i / 5))
    plots.redraw(all_groups=True)
    for plot in (plots.lr_plot, plots.mem_plot, plots.speed_plot):
        lo, hi = _y(plot)
        assert -0.05 * hi <= lo <= 0.0 and hi > 0, plot  # 0 at the bottom (a sliver below to label it)
    assert _y(plots.lr_plot)[1] >= 1e-3


def test_a_users_pan_or_zoom_is_not_overridden(plots):
    for i in range(1, 6):
        plots.feed(_step(i, 1.0))
    plots.redraw(all_groups=True)
    vb = plots.loss_plot.getViewBox()
    vb.setYRange(10, 20, padding=0)
    vb.sigRangeChangedManually.emit([True, True])  # what a mouse drag/wheel emits
    plots.feed(_step(6, 0.5))
    plots.redraw(all_groups=True)
    assert _y(plots.loss_plot) == (10.0, 20.0)
    plots.reset()  # a new run follows its data again
    plots.feed(_step(1, 0.5))
    plots.redraw(all_groups=True)
    lo, hi = _y(plots.loss_plot)
    assert lo < 0.5 < hi < 10


def test_each_plot_keeps_its_own_pace_and_the_final_flush_draws_everything(plots):
    plots.loss.every = 60.0  # one repaint a minute, at most
    plots.lrs.every = 0.0  # whenever it has news
    plots.feed(_step(1, 1.0))
    for _ in range(len(plots._groups) + 1):  # timer ticks: one plot each
        plots.redraw()
    assert plots.drawn_points("loss") == 1
    plots.feed(_step(2, 0.9))
    for _ in range(len(plots._groups) + 1):
        plots.redraw()
    assert plots.drawn_points("loss") == 1  # the loss plot waits its turn…
    assert len(plots.lr_plot.getPlotItem().listDataItems()[0].getOriginalDataset()[0]) == 2  # …others moved on
    plots.redraw(all_groups=True)  # end of run
    assert plots.drawn_points("loss") == 2
