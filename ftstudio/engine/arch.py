"""Per-architecture locators: where the layers, embeddings, head and sublayer outputs live.

Supported families: BERT-like encoders (bert, roberta, distilbert-style MiniLM), GPT-2,
Llama-like decoders (llama, mistral, qwen2, smollm...). Anything else gets a UserError that
names what could not be found.
"""
from __future__ import annotations

from typing import Any

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

LLAMA_LIKE = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "granite"}
BERT_LIKE = {"bert", "roberta", "xlm-roberta", "electra", "camembert"}


def family(model: Any) -> str:
    mt = getattr(getattr(model, "config", None), "model_type", "") or ""
    if mt in BERT_LIKE:
        return "bert"
    if mt == "gpt2":
        return "gpt2"
    if mt in LLAMA_LIKE:
        return "llama"
    return mt or "unknown"


def normalize_family(fam: str | None) -> str:
    """A model_type (or family) mapped onto the families the locators know."""
    fam = fam or ""
    if fam in BERT_LIKE:
        return "bert"
    if fam in LLAMA_LIKE:
        return "llama"
    return fam


def require_family(what: str, model_info: Any, task: str, families: tuple[str, ...] = ("bert", "gpt2", "llama")) -> str:
    """The model's family, or a one-line UserError naming what ``what`` supports."""
    fam = getattr(model_info, "family", None) or "unknown"
    if fam not in families:
        raise UserError(_t("{what} supports BERT-family, GPT-2 and Llama-family models; this is a '{fam}' "
                           "model",
                           what=what, fam=fam))
    if task == "causal-lm" and fam == "bert":
        raise UserError(_t("{what} for text generation needs a causal LM (GPT-2, Llama); this is a BERT "
                           "encoder",
                           what=what))
    return fam


def unwrap(model: Any) -> Any:
    """The transformers model under PEFT / DDP wrappers."""
    m = model
    for _ in range(4):
        if hasattr(m, "module") and not hasattr(m, "config"):  # DDP
            m = m.module
        elif type(m).__name__.startswith("Peft") and hasattr(m, "base_model"):
            m = m.base_model
            if hasattr(m, "model"):
                m = m.model
        else:
            break
    return m


def backbone(model: Any) -> Any:
    m = unwrap(model)
    prefix = getattr(m, "base_model_prefix", None)
    if prefix and hasattr(m, prefix):
        return getattr(m, prefix)
    return m


def layer_list(model: Any) -> Any:
    """The nn.ModuleList of transformer blocks, bottom to top."""
    bb = backbone(model)
    for path in ("encoder.layer", "h", "layers", "transformer.layer", "decoder.layers"):
        obj = bb
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    raise UserError(
        _t("cannot find the transformer layers of a '{value}' model (looked for encoder.layer, h, layers)",
           value=family(model))
    )


def embeddings(model: Any) -> Any:
    bb = backbone(model)
    for name in ("embeddings", "wte", "embed_tokens"):
        if hasattr(bb, name):
            return getattr(bb, name)
    raise UserError(_t("cannot find the embeddings of a '{value}' model", value=family(model)))


def embedding_modules(model: Any) -> list[Any]:
    """Every embedding-side module (token, position, type embeddings, their LayerNorm)."""
    bb = backbone(model)
    mods = [getattr(bb, n) for n in ("embeddings", "wte", "wpe", "embed_tokens") if hasattr(bb, n)]
    if not mods:
        raise UserError(_t("cannot find the embeddings of a '{value}' model", value=family(model)))
    return mods


def final_norm_modules(model: Any) -> list[Any]:
    """Norms after the last block (GPT-2 ln_f, Llama norm) — they belong with the top layer."""
    bb = backbone(model)
    return [getattr(bb, n) for n in ("ln_f", "norm") if isinstance(getattr(bb, n, None), object) and hasattr(bb, n)]


HEAD_NAMES = ("classifier", "score", "lm_head", "pre_classifier")


def head_param_names(model: Any) -> set[str]:
    """Names (as in model.named_parameters()) of the task head's parameters.

    The BERT pooler is pretrained, so it is not counted as head (AdapterHub counts agree).
    For causal LMs with tied embeddings the head is the embedding matrix; it is not reported.
    """
    names = set()
    for n, _ in model.named_parameters():
        parts = n.split(".")
        if any(p in ("classifier", "score", "pre_classifier") for p in parts):
            names.add(n)
        elif "lm_head" in parts:
            names.add(n)
    return names


def attention_output_dense(layer: Any, fam: str) -> Any:
    """The linear projecting attention output back to the residual stream."""
    if fam == "bert":
        return layer.attention.output.dense
    if fam == "gpt2":
        return layer.attn.c_proj
    if fam == "llama":
        return layer.self_attn.o_proj
    raise UserError(_t("no attention output projection known for a '{fam}' model", fam=fam))


def ffn_output_dense(layer: Any, fam: str) -> Any:
    if fam == "bert":
        return layer.output.dense
    if fam == "gpt2":
        return layer.mlp.c_proj
    if fam == "llama":
        return layer.mlp.down_proj
    raise UserError(_t("no feed-forward output projection known for a '{fam}' model", fam=fam))


LORA_TARGETS = {"bert": ["query", "value"], "gpt2": ["c_attn"], "llama": ["q_proj", "v_proj"]}


def lora_target_modules(model: Any) -> list[str]:
    fam = family(model)
    if fam in LORA_TARGETS:
        return list(LORA_TARGETS[fam])
    raise UserError(
        _t("no default LoRA target modules for a '{fam}' model; set technique.params.target_modules",
           fam=fam)
    )
