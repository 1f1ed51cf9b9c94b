"""GGUF export for Llama-family causal LMs (Llama, SmolLM2, Mistral, Qwen2), for llama.cpp,
Ollama and LM Studio.

Written with the ``gguf`` package's ``GGUFWriter`` the way llama.cpp's ``convert_hf_to_gguf.py``
lays a model out: llama.cpp tensor names (``gguf.get_tensor_name_map``), the query/key rows of
Llama-architecture models permuted into llama.cpp's rotary layout, 1-D tensors (norms, biases) in
F32 and matrices in F16 or Q8_0 (Q8_0 blocks of 32; a matrix whose rows are not a multiple of 32
stays F16). The tokenizer goes into the metadata (byte-level BPE as ``gpt2`` with its merges, or
SentencePiece-style BPE as ``llama`` with scores), with BOS/EOS/pad ids and the chat template the
run was trained with. ``write_modelfile`` writes an Ollama ``Modelfile`` beside it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import _t

QUANTS = ("f16", "q8_0")
ARCHS = {  # HF model_type -> GGUF architecture; Llama-architecture ones get q/k permuted
    "llama": "llama", "mistral": "llama", "qwen2": "qwen2",
}
ProgressFn = Callable[[str, int, int], None]


def _permute(w: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """llama.cpp's LlamaModel.permute: HF's rotary halves → interleaved pairs (rows of q/k)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def _rope_theta(cfg: Any) -> float:
    rp = getattr(cfg, "rope_parameters", None) or {}
    theta = rp.get("rope_theta") if isinstance(rp, dict) else None
    return float(theta or getattr(cfg, "rope_theta", None) or 10000.0)


def _check_rope(cfg: Any) -> None:
    rp = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    kind = (rp.get("rope_type") or rp.get("type") or "default") if isinstance(rp, dict) else "default"
    if kind not in ("default", None):
        raise UserError(_t("GGUF export does not handle rope scaling '{kind}' yet (model {value}); export "
                           "the merged model instead",
                           kind=kind, value=getattr(cfg, 'model_type', '?')))


# --------------------------------------------------------------------------- tokenizer
def _pre_type(tok_json: dict, model_name: str) -> str:
    """llama.cpp's pre-tokenizer name for a byte-level BPE tokenizer."""
    pre = tok_json.get("pre_tokenizer") or {}
    patterns = []

    def walk(p: Any) -> None:
        if isinstance(p, dict):
            if p.get("type") == "Split":
                pat = p.get("pattern") or {}
                patterns.append(pat.get("Regex") or pat.get("String"))
            for v in p.get("pretokenizers") or []:
                walk(v)

    walk(pre)
    if not patterns:
        return "smollm" if "smollm" in model_name.lower() else "gpt-2"
    try:
        from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS
    except ImportError:  # older transformers: the common ones by name
        GGUF_PRE_TOKENIZER_SPLITS = {}
    for name in ("llama-bpe", "qwen2", "qwen35", "gpt-4o", "tekken"):
        if GGUF_PRE_TOKENIZER_SPLITS.get(name) in patterns:
            return name
    raise UserError(_t("the tokenizer splits text with a pattern llama.cpp has no name for; "
                    "GGUF export supports GPT-2, SmolLM, Llama-3, Qwen2 and SentencePiece tokenizers"))


def add_tokenizer(w: Any, tokenizer: Any, n_vocab: int, model_name: str, chat_template: str | None) -> None:
    import gguf

    tj = json.loads(tokenizer.backend_tokenizer.to_str())
    model = tj["model"]
    if model.get("type") != "BPE":
        raise UserError(_t("GGUF export supports BPE tokenizers; this one is {value}",
                           value=model.get('type')))
    spm = bool(model.get("byte_fallback"))
    vocab = tokenizer.get_vocab()
    by_id = {i: t for t, i in vocab.items()}
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    tokens, types, scores = [], [], []
    for i in range(n_vocab):
        t = by_id.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(t)
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        elif spm and len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            tokens.append(t)
            types.append(gguf.TokenType.BYTE)
        else:
            tokens.append(t)
            types.append(gguf.TokenType.NORMAL)
        scores.append(-float(i))  # SentencePiece-BPE merge priority: earlier ids merge first
    if len(vocab) > n_vocab:
        raise UserError(_t("the tokenizer has {n_vocab} tokens but the model only {n_vocab2} embeddings",
                           n_vocab=len(vocab), n_vocab2=n_vocab))
    w.add_tokenizer_model("llama" if spm else "gpt2")
    if not spm:
        w.add_tokenizer_pre(_pre_type(tj, model_name))
    w.add_token_list(tokens)
    w.add_token_types(types)
    if spm:
        w.add_token_scores(scores)
    merges = model.get("merges") or []
    if merges:
        w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    for name, fn in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id),
                     ("unk_token_id", w.add_unk_token_id), ("pad_token_id", w.add_pad_token_id)):
        v = getattr(tokenizer, name, None)
        if isinstance(v, int):
            fn(v)
    bos = getattr(tokenizer, "bos_token_id", None)
    try:
        adds_bos = bos is not None and tokenizer("a")["input_ids"][:1] == [bos]
    except Exception:  # noqa: BLE001
        adds_bos = False
    w.add_add_bos_token(bool(adds_bos))
    w.add_add_eos_token(False)
    if chat_template:
        w.add_chat_template(chat_template)


# --------------------------------------------------------------------------- weights
def write_gguf(model: Any, tokenizer: Any, out_path: str | Path, quant: str = "f16", *, name: str = "model",
               chat_template: str | None = None, progress: ProgressFn | None = None) -> Path:
    """Write a (merged, plain transformers) causal LM as one GGUF file."""
    import gguf
    import numpy as np
    import torch

    if quant not in QUANTS:
        raise UserError(_t("--quant must be one of {quants}; got '{quant}'",
                           quants=', '.join(QUANTS), quant=quant))
    cfg = model.config
    mtype = getattr(cfg, "model_type", "?")
    arch = ARCHS.get(mtype)
    if arch is None:
        raise UserError(_t("GGUF export supports Llama-family models ({archs}); this run's model is "
                           "'{mtype}'",
                           archs=', '.join(sorted(ARCHS)), mtype=mtype))
    _check_rope(cfg)
    n_layer, n_head = cfg.num_hidden_layers, cfg.num_attention_heads
    n_kv = getattr(cfg, "num_key_value_heads", None) or n_head
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("rotary_emb.inv_freq")}
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    if tied:
        sd.pop("lm_head.weight", None)
    march = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}[arch]
    names = gguf.get_tensor_name_map(march, n_layer)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    w = gguf.GGUFWriter(str(tmp), arch)
    w.add_name(name)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_context_length(int(getattr(cfg, "max_position_embeddings", 2048)))
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(head_dim)
    if head_dim * n_head != cfg.hidden_size:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_rope_freq_base(_rope_theta(cfg))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    n_vocab = int(cfg.vocab_size)
    w.add_vocab_size(n_vocab)
    ftype = gguf.LlamaFileType.MOSTLY_Q8_0 if quant == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    add_tokenizer(w, tokenizer, n_vocab, name, chat_template)
    total = len(sd)
    for i, (k, t) in enumerate(sd.items()):
        gname = names.get_name(k, try_suffixes=(".weight", ".bias"))
        if gname is None:
            w.close()
            tmp.unlink(missing_ok=True)
            raise UserError(_t("tensor '{k}' has no GGUF name: the model has modules llama.cpp cannot run "
                               "(only merged weights of a plain Llama-family model can be exported)",
                               k=k))
        a = t.detach().to(torch.float32).cpu().numpy()
        if arch == "llama" and k.endswith(("q_proj.weight", "k_proj.weight")):
            a = _permute(a, n_head, n_kv if k.endswith("k_proj.weight") else n_head)
        if a.ndim == 1:
            w.add_tensor(gname, a.astype(np.float32))
        elif quant == "q8_0" and a.shape[-1] % 32 == 0:
            q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(gname, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(gname, a.astype(np.float16))
        if progress and (i % 16 == 0 or i + 1 == total):
            progress(_t("Writing GGUF tensors"), i + 1, total)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(out)
    return out


# --------------------------------------------------------------------------- Ollama
OLLAMA_TEMPLATES = {
    "chatml": ('{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
               '{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}'
               '<|im_start|>assistant\n{{ .Response }}<|im_end|>\n', ["<|im_start|>", "<|im_end|>"]),
    "llama3": ('{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}'
               '{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}'
               '<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>',
               ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]),
    "mistral": ('[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }} [/INST]{{ .Response }}',
                ["[INST]", "[/INST]"]),
    "default": ('{{ if .System }}{{ .System }}\n\n{{ end }}### Instruction:\n{{ .Prompt }}\n\n'
                '### Response:\n{{ .Response }}', ["### Instruction:"]),
}


def template_family(chat_template: str | None) -> str:
    t = chat_template or ""
    if "<|im_start|>" in t:
        return "chatml"
    if "<|start_header_id|>" in t:
        return "llama3"
    if "[INST]" in t:
        return "mistral"
    return "default"


def write_modelfile(out_dir: str | Path, gguf_name: str, chat_template: str | None, system: str | None = None,
                    stop_tokens: list[str] | None = None) -> Path:
    """An Ollama Modelfile: ``ollama create NAME -f Modelfile`` then ``ollama run NAME``."""
    from ftstudio.engine.store import atomic_write_text

    fam = template_family(chat_template)
    tmpl, stops = OLLAMA_TEMPLATES[fam]
    stops = list(dict.fromkeys(stops + [s for s in (stop_tokens or []) if s]))
    lines = [f"# Ollama: ollama create my-model -f Modelfile && ollama run my-model",
             f"# chat template: {fam} (the run was trained with the same layout)",
             f"FROM ./{gguf_name}", f'TEMPLATE """{tmpl}"""']
    if system:
        lines.append(f'SYSTEM """{system}"""')
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    lines += ["PARAMETER temperature 0.7", "PARAMETER top_p 0.9"]
    p = Path(out_dir) / "Modelfile"
    atomic_write_text(p, "\n".join(lines) + "\n")
    return p
