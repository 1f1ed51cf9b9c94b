"""Tiny config-built models (hidden 32, 2 layers) with a tokenizer trained on the fly.

Saved as ordinary Hugging Face folders so tests go through the same loading path as users.
"""
from __future__ import annotations

from pathlib import Path

CORPUS = [
    "the movie was great and i loved it",
    "a terrible boring film , i hated every minute",
    "wonderful acting and a moving story",
    "awful plot , bad dialogue and weak characters",
    "stocks rose as markets rallied on strong earnings",
    "the team won the championship game last night",
    "new phone released with a faster chip and better camera",
    "win a free prize now , call this number",
    "are we still meeting for lunch tomorrow ?",
    "### instruction : name a color . ### response : blue",
    "explain why the sky is blue in one sentence",
    "the quick brown fox jumps over the lazy dog",
] * 4


def _train_tokenizer(kind: str):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        tok.decoder = decoders.WordPiece()
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
            model_max_length=128,
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<pad>"]
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
        model_max_length=128,
    )


def build_tiny(kind: str, out_dir: Path) -> Path:
    """kind: bert | gpt2 | llama. Writes a base model (no head) + tokenizer into out_dir."""
    import torch
    from transformers import AutoModel, BertConfig, GPT2Config, LlamaConfig
    from transformers.utils import logging as hf_logging

    # save_pretrained's "Writing model shards" bar goes to stderr, and a fixture that builds a model
    # inside a test lands in that test's captured stderr (tests that expect one error line fail)
    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    tok = _train_tokenizer("wordpiece" if kind == "bert" else "bpe")
    vocab = len(tok)
    if kind == "bert":
        cfg = BertConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.pad_token_id,
        )
    elif kind == "gpt2":
        cfg = GPT2Config(
            vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=128,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
    elif kind == "llama":
        cfg = LlamaConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, intermediate_size=64, max_position_embeddings=128,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
            tie_word_embeddings=True,
        )
    else:
        raise ValueError(kind)
    if kind == "bert":
        model = AutoModel.from_config(cfg)
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_config(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return out_dir


CUSTOM_CONFIG_PY = '''from transformers import BertConfig


class TinyCustomConfig(BertConfig):
    model_type = "tiny-custom"
'''

CUSTOM_MODELING_PY = '''from transformers import BertForSequenceClassification, BertModel

from .configuration_tiny_custom import TinyCustomConfig


class TinyCustomModel(BertModel):
    config_class = TinyCustomConfig


class TinyCustomForSequenceClassification(BertForSequenceClassification):
    config_class = TinyCustomConfig
'''


def build_custom_code(bert_dir: Path, out_dir: Path) -> Path:
    """A copy of the tiny BERT whose config names its own code (``auto_map``), as hub models
    with custom architectures do: loading it needs ``trust_remote_code``."""
    import json
    import shutil

    out_dir = Path(out_dir)
    shutil.copytree(bert_dir, out_dir, dirs_exist_ok=True)
    cfg = json.loads((out_dir / "config.json").read_text())
    cfg["model_type"] = "tiny-custom"
    cfg["architectures"] = ["TinyCustomModel"]
    cfg["auto_map"] = {
        "AutoConfig": "configuration_tiny_custom.TinyCustomConfig",
        "AutoModel": "modeling_tiny_custom.TinyCustomModel",
        "AutoModelForSequenceClassification": "modeling_tiny_custom.TinyCustomForSequenceClassification",
    }
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    (out_dir / "configuration_tiny_custom.py").write_text(CUSTOM_CONFIG_PY)
    (out_dir / "modeling_tiny_custom.py").write_text(CUSTOM_MODELING_PY)
    return out_dir


def build_sized_llama(out_dir: Path, hidden: int = 256, layers: int = 4, positions: int = 256) -> Path:
    """A config-built Llama large enough that its training memory stands out from the process's
    own (pre-flight's estimate vs the measured peak), with the tiny BPE tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    tok = _train_tokenizer("bpe")
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 128), intermediate_size=4 * hidden, max_position_embeddings=positions,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    return out_dir
