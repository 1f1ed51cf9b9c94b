"""The main window: setup pages (model, data, technique, training + pre-flight), the live run view,
run history and the playground. It only gathers a RunConfig and hands it to the engine."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QT_TRANSLATE_NOOP, QByteArray, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QVBoxLayout,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from ftstudio.engine.config import RunConfig, TechniqueConfig
from ftstudio.engine.errors import UserError
from ftstudio.gui.pages.compare_page import ComparePage
from ftstudio.gui.pages.data_page import DataPage
from ftstudio.gui.pages.model_page import ModelPage
from ftstudio.gui.pages.playground_page import PlaygroundPage
from ftstudio.gui.pages.run_page import RunPage
from ftstudio.gui.pages.runs_page import RunsPage
from ftstudio.gui.pages.technique_page import TechniquePage
from ftstudio.gui.pages.training_page import TrainingPage
from ftstudio.gui.pages.common import PageFrame, WelcomeBanner
from ftstudio.gui.util import show_error
from ftstudio.gui.validation import PAGE_OF, ProblemsPanel, ValidationController
from ftstudio.gui.worker import TrainingSession
from ftstudio.i18n import _t

PAGES = ["model", "data", "technique", "training", "run", "compare", "runs", "playground"]
SETUP_PAGES = ("model", "data", "technique", "training")
SETUP_PAGE_NAMES = {"model": QT_TRANSLATE_NOOP("MainWindow", "Model"), "data": QT_TRANSLATE_NOOP("MainWindow", "Data"),
                    "technique": QT_TRANSLATE_NOOP("MainWindow", "Technique"),
                    "training": QT_TRANSLATE_NOOP("MainWindow", "Training")}  # "Go to …" in the start banner
NAV = [  # texts translated where shown (MainWindow context)
    (QT_TRANSLATE_NOOP("MainWindow", "SETUP"), None),
    (QT_TRANSLATE_NOOP("MainWindow", "1  Model"), "model"),
    (QT_TRANSLATE_NOOP("MainWindow", "2  Data"), "data"),
    (QT_TRANSLATE_NOOP("MainWindow", "3  Technique"), "technique"),
    (QT_TRANSLATE_NOOP("MainWindow", "4  Training & pre-flight"), "training"),
    (QT_TRANSLATE_NOOP("MainWindow", "TRAIN"), None),
    (QT_TRANSLATE_NOOP("MainWindow", "Training run"), "run"),
    (QT_TRANSLATE_NOOP("MainWindow", "Compare techniques"), "compare"),
    (QT_TRANSLATE_NOOP("MainWindow", "AFTER TRAINING"), None),
    (QT_TRANSLATE_NOOP("MainWindow", "Runs"), "runs"),
    (QT_TRANSLATE_NOOP("MainWindow", "Playground"), "playground"),
]


def demo_config() -> RunConfig:
    """The newcomer's setup: MiniLM-L6 + the built-in sentiment set + LoRA (the same as
    ``ftstudio train --demo``)."""
    try:
        from ftstudio.cli import demo_config as cli_demo

        return cli_demo()
    except Exception:  # noqa: BLE001 - the CLI is optional for the window
        return RunConfig(model="builtin:minilm-l6", technique=TechniqueConfig(name="lora"))


def _truthy(v: Any) -> bool:
    return v is True or str(v).lower() in ("true", "1", "yes")


def default_settings() -> QSettings:
    return QSettings("ftstudio", "ftstudio")


class MainWindow(QMainWindow):
    run_ended = Signal(str)  # final status

    def __init__(self, settings: QSettings | None = None, train_fn: Callable | None = None,
                 restore: bool = True, validate_fn: Callable | None = None):
        super().__init__()
        from ftstudio.gui.gc_guard import guard

        self._gc = guard()  # cyclic GC on this (the GUI) thread only while the window is open
        self._gc.acquire()
        self._gc_held = True
        self.settings = settings if settings is not None else default_settings()
        self.train_fn = train_fn  # tests may inject a fake engine
        self.session: TrainingSession | None = None
        self.config_path: str | None = None
        self.last_summary: dict | None = None
        self.setWindowTitle(self.tr("ftstudio — fine-tuning studio"))
        self.resize(1400, 900)
        self.fit_to_screen()
        self._closing = False  # Yes to "quit while training": close once the run has checkpointed
        from ftstudio.gui.util import hold_jobs

        hold_jobs()  # background jobs (and the torch import they begin with) wait for the first paint
        self._painted = False

        self.model_page = ModelPage()
        self.data_page = DataPage()
        self.data_page.model_source = self.model_page.model  # the preview renders its chat template
        self.model_page.changed.connect(self.data_page._timer.start)
        self.technique_page = TechniquePage(self.data_page.data_config, self.model_page.model)
        self.training_page = TrainingPage(self.build_config)
        self.run_page = RunPage()
        self.compare_page = ComparePage(self.build_config, self.is_training)
        self.runs_page = RunsPage(self.runs_dir)
        self.playground_page = PlaygroundPage(self.runs_dir)
        self.pages: dict[str, QWidget] = {
            "model": self.model_page,
            "data": self.data_page,
            "technique": self.technique_page,
            "training": self.training_page,
            "run": self.run_page,
            "compare": self.compare_page,
            "runs": self.runs_page,
            "playground": self.playground_page,
        }

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(210)
        self.nav.setStyleSheet(
            "QListWidget{background:#26313d;color:#e8edf2;border:none;font-size:13px;}"
            "QListWidget::item{padding:7px 10px;}"
            "QListWidget::item:selected{background:#3d6fa8;color:white;}"
        )
        for text, key in NAV:
            it = QListWidgetItem(self.tr(text))
            if key is None:
                it.setFlags(Qt.NoItemFlags)
                f = QFont()
                f.setPointSize(8)
                f.setBold(True)
                it.setFont(f)
                it.setForeground(Qt.gray)
                it.setSizeHint(QSize(200, 30))
            else:
                it.setData(Qt.UserRole, key)
            self.nav.addItem(it)
        self.nav.currentItemChanged.connect(self._nav_changed)
        lay.addWidget(self.nav)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        self.welcome = WelcomeBanner()
        self.welcome.dismissed.connect(lambda: self.settings.setValue("welcome/dismissed", True))
        self.welcome.setVisible(not _truthy(self.settings.value("welcome/dismissed", False)))
        right.addWidget(self.welcome)
        self.notice = QLabel("")
        self.notice.setObjectName("setup_notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel{background:#fff4d6;color:#6b4a00;padding:6px 12px;"
                                  "border-bottom:1px solid #e6d3a1;}")
        self.notice.hide()
        right.addWidget(self.notice)
        # why Start is disabled: a strip above every page (a toolbar label would be folded away
        # into the toolbar's overflow menu on a small screen)
        self.start_reason = QLabel("")
        self.start_reason.setObjectName("start_reason")
        self.start_reason.setWordWrap(True)
        self.start_reason.setTextFormat(Qt.RichText)
        self.start_reason.setStyleSheet("QLabel{background:#fbe9e9;color:#8c0018;padding:6px 12px;"
                                        "border-bottom:1px solid #ebcaca;}")
        self.start_reason.linkActivated.connect(self.show_page)
        self.start_reason.hide()
        right.addWidget(self.start_reason)
        self.stack = QStackedWidget()
        self.frames: dict[str, PageFrame] = {}
        for key in PAGES:
            # every page scrolls: on a small screen nothing is clipped, and no page (a long label
            # list, a wide preview) can make the window grow past the screen
            frame = PageFrame(self.pages[key])
            frame.setObjectName(f"frame_{key}")
            self.frames[key] = frame
            self.stack.addWidget(frame)
        right.addWidget(self.stack, 1)
        lay.addLayout(right, 1)
        self.setCentralWidget(central)
        self._build_toolbar()
        self._build_menus()
        self.summary_label = QLabel("")
        self.statusBar().addWidget(self.summary_label, 1)

        # the validation pass: problems inline on their page, Start disabled with the first error
        self.validation = ValidationController(self.build_config, validate_fn, parent=self)
        self.validation.updated.connect(self._show_validation)
        self.training_page.preflight.validated.connect(self._preflight_validated)
        self.problem_panels: dict[str, ProblemsPanel] = {}
        for key in SETUP_PAGES:
            panel = ProblemsPanel()
            panel.setObjectName(f"problems_{key}")
            self.pages[key].layout().insertWidget(1, panel)
            self.problem_panels[key] = panel
        for p in (self.model_page, self.data_page, self.technique_page, self.training_page):
            p.changed.connect(self._update_summary)
            p.changed.connect(self._setup_edited)
        self.technique_page.go_to_model.connect(lambda: self.show_page("model"))
        self.model_page.info_changed.connect(self.technique_page.set_model_info)
        self.technique_page.technique_changed.connect(self._technique_picked)
        self.run_page.stop_requested.connect(self.stop)
        self.run_page.resume_requested.connect(self.resume)
        self.runs_page.resume_requested.connect(self.resume)
        self.runs_page.load_setup_requested.connect(self.open_setup)
        self.runs_page.runs_changed.connect(self.playground_page.refresh)
        self.compare_page.study_ended.connect(lambda *_: self.runs_page.refresh())

        cfg = None
        if restore:
            cfg = self._restored_config()
            geo = self.settings.value("window/geometry")
            if isinstance(geo, QByteArray) and not geo.isEmpty():
                self.restoreGeometry(geo)
                self.fit_to_screen()  # a geometry saved on a bigger screen (or a runaway one)
        self.load_config(cfg or demo_config())
        # the first launch (nothing remembered) opens on page 1 with the welcome above it
        page = self.settings.value("window/page", "model") if restore else "model"
        self.show_page(page if page in ("model", "data", "technique", "training") else "model")
        self._update_summary()

    # -- toolbar / navigation ------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        tb = QToolBar(self.tr("Main"))
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        self.addToolBar(tb)
        self.open_action = QAction(self.tr("Open setup…"), self, shortcut=QKeySequence.Open, triggered=self._open_dialog)
        self.save_action = QAction(self.tr("Save setup…"), self, shortcut=QKeySequence.Save, triggered=self._save_dialog)
        self.copy_action = QAction(self.tr("Copy command"), self, triggered=self.copy_command)
        self.copy_action.setToolTip(self.tr("Copy `ftstudio train SETUP.yaml` to run this setup headless"))
        self.demo_action = QAction(self.tr("Demo setup"), self, triggered=self.demo_setup)
        self.demo_action.setToolTip(self.tr("MiniLM-L6 + the built-in sentiment set + LoRA"))
        for a in (self.open_action, self.save_action, self.copy_action, self.demo_action):
            tb.addAction(a)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        tb.addWidget(spacer)
        self.start_action = QAction(self.tr("▶  Start training"), self, shortcut="Ctrl+R", triggered=self.start)
        self.stop_action = QAction(self.tr("■  Stop"), self, triggered=self.stop)
        self.stop_action.setEnabled(False)
        tb.addAction(self.start_action)
        tb.addAction(self.stop_action)
        btn = tb.widgetForAction(self.start_action)
        btn.setObjectName("start_button")
        btn.setStyleSheet("QToolButton{background:#2e7d32;color:white;font-weight:bold;padding:6px 16px;"
                          "border-radius:4px;} QToolButton:disabled{background:#9e9e9e;}")
        self.start_button = btn

    def _build_menus(self) -> None:
        from PySide6.QtGui import QActionGroup

        from ftstudio import i18n
        from ftstudio.gui import i18n as gui_i18n

        file_menu = self.menuBar().addMenu(self.tr("&File"))
        for a in (self.open_action, self.save_action, self.copy_action, self.demo_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(QAction(self.tr("Quit"), self, shortcut=QKeySequence.Quit, triggered=self.close))
        lang_menu = self.menuBar().addMenu(self.tr("&Language"))
        lang_menu.setObjectName("language_menu")
        group = QActionGroup(self)
        saved = str(self.settings.value(gui_i18n.SETTINGS_KEY, "") or "")
        self.language_actions: dict[str, QAction] = {}
        # Language names are shown in their own language, so a user who cannot read the current
        # one still finds theirs.
        for code, name in [("", self.tr("System default")), *i18n.LANGUAGES.items()]:
            a = QAction(name, self, checkable=True)
            a.setChecked(code == saved)
            a.triggered.connect(lambda _=False, c=code: self.set_language(c))
            group.addAction(a)
            lang_menu.addAction(a)
            self.language_actions[code] = a

    def set_language(self, code: str) -> None:
        """Remember the language for the next start (the Language menu); "" follows the system."""
        from ftstudio import i18n
        from ftstudio.gui import i18n as gui_i18n

        self.settings.setValue(gui_i18n.SETTINGS_KEY, code)
        self.settings.sync()
        if code in self.language_actions:
            self.language_actions[code].setChecked(True)
        lang = i18n.normalize(code) or i18n.system_language()
        if lang != i18n.language():
            # Said in both languages: the user just picked the one they read.
            QMessageBox.information(
                self, self.tr("Language"),
                self.tr("The studio will use {name} the next time it starts.").format(name=i18n.LANGUAGES[lang])
                + ("\n\nThe studio will use English the next time it starts." if lang == "en"
                   else "\n\n下次启动时，界面将切换为简体中文。"))

    def _nav_changed(self, cur: QListWidgetItem | None, _prev: Any = None) -> None:
        if cur is None:
            return
        key = cur.data(Qt.UserRole)
        if key:
            self.stack.setCurrentWidget(self.frames[key])
            self._update_notice()
            if key == "runs":
                self.runs_page.refresh()
            elif key == "playground":
                self.playground_page.refresh()

    def show_page(self, key: str) -> None:
        for i in range(self.nav.count()):
            if self.nav.item(i).data(Qt.UserRole) == key:
                self.nav.setCurrentRow(i)
                return

    def current_page(self) -> str:
        it = self.nav.currentItem()
        return it.data(Qt.UserRole) if it else ""

    def after_shown(self) -> None:
        """Work that may wait until the window is on screen (the first job warms the imports)."""
        from PySide6.QtCore import QTimer

        QTimer.singleShot(200, lambda: self.run_page.plots)  # import pyqtgraph, build the plots
        self.model_page.refresh_sources()
        if self.model_page.model():
            self.model_page._info_timer.start()
        self.data_page.refresh_preview()
        self.validation.activate()

    def fit_to_screen(self) -> None:
        """Keep the window inside the screen it is on (position and size)."""
        avail = self.screen().availableGeometry() if self.screen() else None
        if avail is None:
            return
        fw = max(0, self.frameGeometry().width() - self.width())  # the window manager's frame
        fh = max(0, self.frameGeometry().height() - self.height())
        w, h = min(self.width(), avail.width() - fw), min(self.height(), avail.height() - fh)
        if (w, h) != (self.width(), self.height()):
            self.resize(w, h)
        g = self.frameGeometry()
        if not avail.contains(g):
            x = min(max(g.x(), avail.x()), avail.right() - g.width() + 1)
            y = min(max(g.y(), avail.y()), avail.bottom() - g.height() + 1)
            self.move(max(x, avail.x()), max(y, avail.y()))

    # -- validation ----------------------------------------------------------------------------------------
    def _setup_edited(self) -> None:
        if not getattr(self, "_loading", False):
            self.validation.schedule()
            self.training_page.preflight.mark_stale()

    def _show_validation(self, v: Any) -> None:
        by_page: dict[str, list] = {k: [] for k in SETUP_PAGES}
        for p in v.problems:
            by_page[PAGE_OF.get(p.where, "training")].append(p)
        for key, probs in by_page.items():
            self.problem_panels[key].set_problems(probs)
        for i in range(self.nav.count()):
            it = self.nav.item(i)
            key = it.data(Qt.UserRole)
            if key in by_page:
                base = it.text().rstrip(" ✖⚠")
                errs = [p for p in by_page[key] if p.severity == "error"]
                mark = " ✖" if errs else (" ⚠" if by_page[key] else "")
                it.setText(base + mark)
                it.setToolTip("\n".join(p.message for p in by_page[key]))
        self._refresh_start()

    def _preflight_validated(self, v: Any) -> None:
        """A pre-flight ran the validation pass on the current setup (an edit during the check
        cancels it, so an answer that arrives is for what the pages show now)."""
        self.validation.adopt(v)  # → updated → _show_validation

    def start_blocker(self) -> Any:
        """The first error of the latest validation (None when Start may go)."""
        v = self.validation.result
        return v.first_error() if v is not None else None

    def _refresh_start(self) -> None:
        import html

        err = self.start_blocker()
        self.start_action.setEnabled(self.session is None and err is None)
        if err is not None:
            page = PAGE_OF.get(err.where, "training")
            short = err.message if len(err.message) <= 90 else err.message[:89] + "…"
            self.start_reason.setText(self.tr("<b>Cannot start:</b> {value} <a href='{page}' "
                                              "style='color:#8c0018'>Go to {value2}</a>").format(
                                          value=html.escape(short), page=page, value2=self.tr(SETUP_PAGE_NAMES[page])))
            self.start_reason.setToolTip(err.message)
            self.start_action.setToolTip(self.tr("Cannot start: {message}").format(message=err.message))
        else:
            self.start_reason.setText("")
            self.start_reason.setToolTip("")
            self.start_action.setToolTip(self.tr("Start training this setup (Ctrl+R)"))
        self.start_reason.setVisible(err is not None)

    def showEvent(self, e: Any) -> None:  # noqa: N802
        super().showEvent(e)
        self.fit_to_screen()  # the frame's size is known now
        from PySide6.QtCore import QTimer

        QTimer.singleShot(3000, self._first_paint_done)  # a window that never paints (minimised) still gets its jobs

    def paintEvent(self, e: Any) -> None:  # noqa: N802
        super().paintEvent(e)
        if not self._painted:
            from PySide6.QtCore import QTimer

            QTimer.singleShot(0, self._first_paint_done)  # after this paint has reached the screen

    def _first_paint_done(self) -> None:
        """The window is on screen: the held background jobs may start importing torch now."""
        if not self._painted:
            from ftstudio.gui.util import release_jobs

            self._painted = True
            release_jobs()

    def _update_notice(self) -> None:
        """While a run trains, the setup pages say that their edits are for the next run."""
        text = ""
        if self.session is not None and self.current_page() in ("model", "data", "technique", "training"):
            text = self.tr("A run is in progress: changes here apply to the next run, "
                           "not to the one training now.")
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _setup_key(self) -> Any:
        """What the setup pages describe, comparable (None while it does not build)."""
        try:
            d = self.build_config().to_dict()
        except Exception:  # noqa: BLE001
            return None
        d.pop("runs_dir", None)
        return d

    def setup_changed(self) -> bool:
        """Has the setup been edited since it was last loaded, opened or saved?"""
        return self._setup_key() != getattr(self, "_clean_key", None)

    def demo_setup(self, ask: bool = True) -> bool:
        """Load the demo; a setup changed by hand is only replaced after asking."""
        if ask and self.setup_changed():
            ans = QMessageBox.question(
                self, self.tr("Replace the setup?"),
                self.tr("Replace your current setup with the demo (MiniLM-L6 + sentiment + LoRA)? "
                "Save it first if you want to keep it."))
            if ans != QMessageBox.Yes:
                return False
        self.load_config(demo_config())
        self.statusBar().showMessage(self.tr("Demo setup loaded: press Start"), 6000)
        return True

    # -- config in/out ---------------------------------------------------------------------------------
    def runs_dir(self) -> str | None:
        return self.training_page.runs_directory()

    def build_config(self) -> RunConfig:
        """The RunConfig the setup pages describe (validated; raises UserError)."""
        model = self.model_page.model()
        if not model:
            raise UserError(self.tr("choose a model on the Model page"), where="model", field="model")
        tech = self.technique_page.technique()
        data = self.data_page.data_config()
        tasks = None
        if self.technique_page.needs_sequence():
            tasks = self.technique_page.sequence.tasks()
            if not tasks:
                raise UserError(self.tr("{tech} trains a sequence of tasks: add at least one dataset on the "
                                        "Technique page").format(
                                    tech=tech), where="technique", field="tasks")
            data = None
        elif not data.train:
            raise UserError(self.tr("choose training data on the Data page"), where="data", field="data.train")
        base = getattr(self, "_loaded_cfg", None) or RunConfig()
        cfg = RunConfig(
            model=model,
            task=self.data_page.task(),
            data=data,
            tasks=tasks,
            heads=base.heads,
            technique=TechniqueConfig(name=tech, params=self.technique_page.params()),
            training=self.training_page.training_config(),
            output_dir=None,
            runs_dir=self.training_page.runs_directory(),
            allow_pickle=base.allow_pickle,
            trust_remote_code=base.trust_remote_code,
        )
        cfg.validate()
        return cfg

    def _technique_picked(self, name: str) -> None:
        """A technique picked by hand pre-fills the learning rate it trains well with."""
        if getattr(self, "_loading", False):
            return
        cls = self.technique_page.technique_class()
        lr = getattr(cls, "default_learning_rate", None)
        if lr:
            self.training_page.lr.setText(f"{lr:g}")
            self.statusBar().showMessage(self.tr("Learning rate set to {lr:g}, the usual rate for {title}").format(
                                             lr=lr, title=_t(cls.title)), 6000)

    def load_config(self, cfg: RunConfig) -> None:
        self._loading = True
        try:
            self._load_config(cfg)
        finally:
            self._loading = False

    def _load_config(self, cfg: RunConfig) -> None:
        self._loaded_cfg = copy.deepcopy(cfg)
        self.model_page.set_model(cfg.model)
        data = cfg.data if cfg.data is not None else (cfg.tasks[0].data if cfg.tasks else None)
        self.data_page.set_config(cfg.task, data)
        self.technique_page.select(cfg.technique.name)
        self.technique_page.set_params(cfg.technique.name, cfg.technique.params)
        self.technique_page.sequence.set_tasks(cfg.tasks)
        self.training_page.set_config(cfg.training, cfg.runs_dir or "")
        self._update_summary()
        self._clean_key = self._setup_key()
        self.validation.schedule()
        self.training_page.preflight.mark_stale()

    def _restored_config(self) -> RunConfig | None:
        text = self.settings.value("setup/last_yaml")
        if not text:
            return None
        try:
            import yaml

            return RunConfig.from_dict(yaml.safe_load(text))
        except Exception:  # noqa: BLE001 - a stale setup falls back to the demo
            return None

    def _update_summary(self) -> None:
        tech = self.technique_page.technique()
        data = self.data_page.train_edit.text()
        if self.technique_page.needs_sequence():
            data = self.tr("{n} tasks").format(n=self.technique_page.sequence.list.count())
        self.summary_label.setText(self.tr("Setup: {value}  ·  {value2}  ·  {tech}").format(
                                       value=self.model_page.model() or '—', value2=data or '—', tech=tech))

    # -- save / open / copy --------------------------------------------------------------------------
    def _open_dialog(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, self.tr("Open a setup"), "", self.tr("Setup (*.yaml *.yml);;All files (*)"))
        if p:
            self.open_setup(p)

    def open_setup(self, path: str) -> bool:
        try:
            cfg = RunConfig.from_yaml(path)
        except Exception as e:  # noqa: BLE001
            show_error(self, e)
            return False
        self.load_config(cfg)
        self.config_path = str(path)
        # a file from when 0 meant "off": the fields show off, which is null in what is saved
        old = [f"{n}: {getattr(cfg.training, n)}" for n in ("eval_every", "save_every")
               if getattr(cfg.training, n) is not None and getattr(cfg.training, n) <= 0]
        if old:
            self.statusBar().showMessage(self.tr("Loaded {path}; {value} read as null (off): save the setup to "
                                                 "write it that way").format(path=path, value=", ".join(old)), 15000)
        else:
            self.statusBar().showMessage(self.tr("Loaded {path}").format(path=path), 5000)
        self.show_page("model")
        return True

    def _save_dialog(self) -> str | None:
        start = self.config_path or str(Path.home() / "ftstudio-setup.yaml")
        p, _ = QFileDialog.getSaveFileName(self, self.tr("Save the setup"), start, self.tr("Setup (*.yaml)"))
        if not p:
            return None
        return self.save_setup(p)

    def save_setup(self, path: str) -> str | None:
        try:
            cfg = self.build_config()
            cfg.save(path)
        except Exception as e:  # noqa: BLE001
            show_error(self, e)
            return None
        self.config_path = str(path)
        self._clean_key = self._setup_key()
        self.statusBar().showMessage(self.tr("Saved {path}").format(path=path), 5000)
        return str(path)

    def copy_command(self) -> str | None:
        path = self.config_path if self.config_path and Path(self.config_path).exists() else self._save_dialog()
        if not path:
            return None
        if not self.save_setup(path):
            return None
        import shlex

        cmd = f"ftstudio train {shlex.quote(path)}"
        QGuiApplication.clipboard().setText(cmd)
        self.statusBar().showMessage(self.tr("Copied: {cmd}").format(cmd=cmd), 8000)
        return cmd

    # -- training --------------------------------------------------------------------------------------
    def is_training(self) -> bool:
        return self.session is not None

    def start(self) -> bool:
        if self.session is not None:
            return False
        if self.compare_page.is_running():
            show_error(self, self.tr("a study is running on the Compare techniques page: stop it or wait "
                                     "for it "
                                     "to finish"))
            return False
        err = self.start_blocker()
        if err is not None and not self.validation.pending:
            self.show_page(PAGE_OF.get(err.where, "training"))
            self.statusBar().showMessage(self.tr("Cannot start: {message}").format(message=err.message), 8000)
            return False
        try:
            cfg = self.build_config()
        except Exception as e:  # noqa: BLE001
            show_error(self, e)
            return False
        self._launch(cfg, None, self.tr("{technique} on {model} · {data}").format(
            technique=cfg.technique.name, model=cfg.model, data=", ".join(d.train for d in cfg.all_data())))
        return True

    def resume(self, run_dir: str) -> bool:
        if self.session is not None or not run_dir or self.compare_page.is_running():
            return False
        try:
            from ftstudio.engine.resume import resume_config

            cfg = resume_config(run_dir)  # the run's own config, as the CLI's resume reads it
        except Exception as e:  # noqa: BLE001
            show_error(self, e)
            return False
        self._launch(cfg, run_dir, self.tr("resuming {name}").format(name=Path(run_dir).name))
        return True

    def _launch(self, cfg: RunConfig, resume: str | None, description: str) -> None:
        self.settings.setValue("setup/last_yaml", cfg.to_yaml()) if resume is None else None
        s = TrainingSession(cfg, resume, self.train_fn, parent=self)
        s.event.connect(self.run_page.on_event)
        s.done.connect(self._on_done)
        s.failed.connect(self._on_failed)
        s.ended.connect(self._on_thread_ended)
        self.session = s
        self.run_page.begin(description, resume)
        self.stop_action.setEnabled(True)
        self._refresh_start()
        self.show_page("run")
        self._update_notice()
        s.start()

    def stop(self) -> None:
        if self.session is None:
            return
        self.session.cancel()
        self.run_page.set_state("stopping")
        self.stop_action.setEnabled(False)

    def _on_done(self, summary: dict) -> None:
        self.last_summary = summary
        status = summary.get("status", "finished")
        self.run_page.end(status, summary)

    def _on_failed(self, kind: str, message: str, tb: str) -> None:
        self.last_summary = {"status": "failed", "message": message}
        self.run_page.end("failed", None, message)
        if kind == "user":
            show_error(self, message)
        else:
            from ftstudio.gui.util import ErrorInfo

            show_error(self, ErrorInfo(RuntimeError(message), tb))

    def _on_thread_ended(self) -> None:
        s = self.session
        self.session = None
        if s is not None:
            s.thread.wait(2000)
            s.deleteLater()
        self.stop_action.setEnabled(False)
        self._refresh_start()
        self._update_notice()
        self.runs_page.refresh()
        self.playground_page.refresh()
        self.run_ended.emit(self.run_page.state)
        if self._closing:
            self.close()

    # -- closing ----------------------------------------------------------------------------------------
    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/page", self.current_page())
        try:
            self.settings.setValue("setup/last_yaml", self.build_config().to_yaml())
        except Exception:  # noqa: BLE001 - an unfinished setup is simply not remembered
            pass
        self.settings.sync()

    def closeEvent(self, e: Any) -> None:  # noqa: N802
        if self.session is not None:
            if not self._closing:
                ans = QMessageBox.question(
                    self, self.tr("Training in progress"),
                    self.tr("A run is training. Stop it (the checkpoint is kept, you can resume later) and "
                            "quit?"))
                if ans != QMessageBox.Yes:
                    e.ignore()
                    return
                # The window goes at once; the process stays until the run has stopped at the end
                # of its step and written its checkpoint (_on_thread_ended closes for real). Waiting
                # here froze the window for as long as that took.
                self._closing = True
                self.save_settings()
                self.session.cancel()
                self.run_page.set_state("stopping")
            e.ignore()
            self.hide()
            return
        study = self.compare_page.session
        if study is not None:
            ans = QMessageBox.question(
                self, self.tr("Study in progress"),
                self.tr("A study is running. Stop it (the running arm keeps its checkpoint; Continue picks "
                        "it up) and quit?"))
            if ans != QMessageBox.Yes:
                e.ignore()
                return
            study.cancel()
            study.wait(60000)
        self.save_settings()
        super().closeEvent(e)
        if self._gc_held:
            self._gc_held = False
            self._gc.release()
