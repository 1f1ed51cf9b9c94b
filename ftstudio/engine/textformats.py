"""Text-generation data: formats detected from the columns, rendered through a chat template.

Formats (``data.format``; ``auto`` detects them in this order):

============== ========================================== =====================================
format         columns                                    becomes
============== ========================================== =====================================
messages       ``messages``: [{role, content}, ...]       the conversation as it is
conversations  ``conversations``: [{from, value}, ...]    ShareGPT: human→user, gpt→assistant
alpaca         ``instruction`` [+ ``input``] + ``output``  user: instruction (+ blank line + input)
prompt_completion ``prompt`` + ``completion``/``response``    user: prompt, assistant: completion
question_answer ``question`` + ``answer``                 user: question, assistant: answer
pair           ``data.prompt_column`` + ``response_column`` user / assistant (any other names)
text           ``text`` (or ``data.text_column``)           plain text, continued pre-training
============== ========================================== =====================================

Every format except ``text`` becomes a list of chat messages. The text the model is trained on
comes from the model's chat template (``tokenizer.apply_chat_template``) when it has one, else from
:data:`DEFAULT_CHAT_TEMPLATE` (Alpaca's ``### Instruction`` / ``### Response`` layout, each answer
closed by the end-of-sequence token); ``data.chat_template`` overrides both (``default`` forces
the built-in one, anything else is a Jinja chat template). A legacy ``data.template`` (a Python
format string over the columns, e.g. ``"Q: {question}\\nA: "``) still builds the prompt of
single-turn rows, with no chat template around it.

Loss: on the answers only (every assistant turn, incl. its end-of-turn token) by default; with
``data.loss_on: all`` on every token. The answer spans come from rendering the conversation
turn by turn (prefix up to each assistant turn with the generation prompt, then with the turn),
and each span is tokenized on its own, so the prompt is tokenized exactly as it is at
generation time.

Sequences over max_length lose tokens from the left of the prompt; the first answer's start is
never cut (an answer too long for the window keeps its start and loses its end, and the prompt
keeps at most half the window). Plain text longer than the window is split into windows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ftstudio.engine.errors import UserError
from ftstudio.i18n import N_, _t

FORMATS = ("auto", "messages", "conversations", "alpaca", "prompt_completion", "question_answer",
           "pair", "text")
FORMAT_TITLES = {
    "messages": N_("chat messages (role/content)"),
    "conversations": N_("ShareGPT conversations (from/value)"),
    "alpaca": N_("Alpaca-style instruction (+ input) → output"),
    "prompt_completion": N_("prompt/completion"),
    "question_answer": N_("question/answer"),
    "pair": N_("prompt/response columns"),
    "text": N_("plain text (continued pre-training)"),
}
LOSS_ON = ("answer", "all")

#: Used for models without a chat template (and with ``data.chat_template: default``).
#: Alpaca's layout; a system message opens the text; each answer ends with the EOS token.
DEFAULT_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}{% if not loop.first and messages[loop.index0 - 1]['role'] != 'system' %}"
    "\n\n{% endif %}### Instruction:\n{{ m['content'] }}\n\n### Response:\n"
    "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "model": "assistant",
                  "system": "system"}
# tokens that end an assistant turn in the common chat templates (generation stops at them)
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                      "</s>", "<|end_of_text|>")

ProgressFn = Callable[[str, int, int], None]


@dataclass
class TextFormat:
    name: str
    prompt: str | None = None  # column names, per format
    response: str | None = None
    extra: str | None = None  # alpaca's input
    column: str | None = None  # messages / conversations / text

    @property
    def title(self) -> str:
        cols = [c for c in (self.prompt, self.extra, self.response, self.column) if c]
        return f"{_t(FORMAT_TITLES[self.name])}: {', '.join(cols)}"


def _cfg(d: Any, name: str, default: Any = None) -> Any:
    return getattr(d, name, default) if d is not None else default


def detect_format(columns: list[str], d: Any = None, first_row: dict | None = None) -> TextFormat:
    """The format of a table from its columns (and the config's choices). UserError if none fits."""
    cols = list(columns)
    low = {c.lower(): c for c in cols}
    want = _cfg(d, "format", "auto") or "auto"
    if want not in FORMATS:
        raise UserError(_t("data.format must be one of {formats}; got '{want}'",
                           formats=', '.join(FORMATS), want=want))
    pc, rc = _cfg(d, "prompt_column"), _cfg(d, "response_column")
    for c in (pc, rc):
        if c and c not in cols:
            raise UserError(_t("no column named '{c}'; found: {cols}", c=c, cols=', '.join(cols)))

    def has(*names: str) -> str | None:
        return next((low[n] for n in names if n in low), None)

    cands: dict[str, TextFormat | None] = {}
    cands["messages"] = TextFormat("messages", column=has("messages")) if has("messages") else None
    cands["conversations"] = (TextFormat("conversations", column=has("conversations", "conversation"))
                              if has("conversations", "conversation") else None)
    if has("instruction") and has("output", "response"):
        cands["alpaca"] = TextFormat("alpaca", prompt=has("instruction"), response=has("output", "response"),
                                     extra=has("input"))
    if has("prompt") and has("completion", "response", "output"):
        cands["prompt_completion"] = TextFormat("prompt_completion", prompt=has("prompt"),
                                                response=has("completion", "response", "output"))
    if has("question") and has("answer", "response"):
        cands["question_answer"] = TextFormat("question_answer", prompt=has("question"),
                                              response=has("answer", "response"))
    if pc and rc:
        cands["pair"] = TextFormat("pair", prompt=pc, response=rc)
    elif rc and (_cfg(d, "template") or has("instruction", "prompt", "question", "input_text")):
        cands["pair"] = TextFormat("pair", prompt=pc or has("instruction", "prompt", "question", "input_text"),
                                   response=rc)
    text_col = _cfg(d, "text_column") if _cfg(d, "text_column") in cols else has("text", "content")
    cands["text"] = TextFormat("text", column=text_col) if text_col else None

    if want != "auto":
        f = cands.get(want)
        if f is None:
            raise UserError(_t("data.format is {want} but the columns do not fit it ({value}); found: {cols}",
                               want=want, value=_needs(want), cols=', '.join(cols)))
        return f
    if pc or rc:  # columns chosen by hand win over detection
        if not (pc and rc) and cands.get("pair") is None:
            base = next((cands[k] for k in ("alpaca", "prompt_completion", "question_answer") if cands.get(k)), None)
            if base is None:
                raise UserError(_t("choose both a prompt column and a response column (or name them "
                                   "instruction/output); found: {cols}",
                                   cols=', '.join(cols)))
            return TextFormat(base.name, prompt=pc or base.prompt, response=rc or base.response,
                              extra=base.extra)
        return cands["pair"]  # type: ignore[return-value]
    for k in ("messages", "conversations", "alpaca", "prompt_completion", "question_answer", "pair", "text"):
        if cands.get(k):
            return cands[k]  # type: ignore[return-value]
    raise UserError(
        _t("cannot tell the text format from the columns: expected messages, conversations, "
           "instruction/output, prompt/completion, question/answer, or a text column; found: {cols}",
           cols=', '.join(cols))
    )


def _needs(fmt: str) -> str:
    return {"messages": "a 'messages' column", "conversations": "a 'conversations' column",
            "alpaca": "'instruction' and 'output'", "prompt_completion": "'prompt' and 'completion'",
            "question_answer": "'question' and 'answer'", "pair": "prompt_column and response_column",
            "text": "a text column"}[fmt]


# --------------------------------------------------------------------------- rows → messages
def _s(v: Any) -> str:
    return "" if v is None else str(v)


def row_messages(row: dict, fmt: TextFormat) -> list[dict]:
    """A row as chat messages (role/content). UserError names a malformed conversation."""
    if fmt.name in ("messages", "conversations"):
        conv = row.get(fmt.column)
        if isinstance(conv, str):
            import json

            try:
                conv = json.loads(conv)
            except ValueError:
                raise UserError(_t("column '{column}' holds text that is not a JSON list of turns",
                                   column=fmt.column)) from None
        if not isinstance(conv, list) or not all(isinstance(m, dict) for m in conv):
            raise UserError(_t("column '{column}' must hold a list of turns (dicts); got {type}",
                               column=fmt.column, type=type(conv).__name__))
        out = []
        for m in conv:
            if fmt.name == "messages":
                role, content = m.get("role"), m.get("content")
            else:
                raw = _s(m.get("from", m.get("role"))).lower()
                role, content = SHAREGPT_ROLES.get(raw), m.get("value", m.get("content"))
                if role is None:
                    raise UserError(_t("unknown speaker '{raw}' in '{column}' (expected one of "
                                       "{sharegpt_roles})",
                                       raw=raw, column=fmt.column, sharegpt_roles=', '.join(sorted(SHAREGPT_ROLES))))
            if role not in ("system", "user", "assistant"):
                raise UserError(_t("unknown role '{role}' in '{column}' (expected system, user, assistant)",
                                   role=role, column=fmt.column))
            out.append({"role": role, "content": _s(content)})
        return out
    prompt = _s(row.get(fmt.prompt))
    extra = _s(row.get(fmt.extra)) if fmt.extra else ""
    if extra.strip():
        prompt = f"{prompt}\n\n{extra}" if prompt.strip() else extra
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": _s(row.get(fmt.response))}]


# --------------------------------------------------------------------------- templates
def model_has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_template_for(tokenizer: Any, d: Any = None) -> tuple[str, str]:
    """(jinja template, where it came from: 'model' | 'default' | 'custom')."""
    override = _cfg(d, "chat_template")
    if override and override.strip().lower() != "default":
        return override, "custom"
    if override is None and tokenizer is not None and model_has_chat_template(tokenizer):
        tmpl = tokenizer.chat_template
        if isinstance(tmpl, dict):  # several named templates: the default one
            tmpl = tmpl.get("default") or next(iter(tmpl.values()))
        return tmpl, "model"
    return DEFAULT_CHAT_TEMPLATE, "default"


def _special(tokenizer: Any) -> dict:
    keys = ("bos_token", "eos_token", "pad_token", "unk_token")
    out = {k: (getattr(tokenizer, k, None) or "") for k in keys} if tokenizer is not None else {}
    out.setdefault("eos_token", "<eos>")  # preview without a tokenizer shows where EOS goes
    out.setdefault("bos_token", "")
    return out


def apply_template(messages: list[dict], template: str, tokenizer: Any = None,
                   add_generation_prompt: bool = False) -> str:
    """Render messages with a Jinja chat template (the tokenizer's renderer when there is one)."""
    try:
        if tokenizer is not None and hasattr(tokenizer, "apply_chat_template"):
            return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                 add_generation_prompt=add_generation_prompt)
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

        def raise_exception(msg: str) -> None:
            raise ValueError(msg)

        env.globals["raise_exception"] = raise_exception
        return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                **_special(tokenizer))
    except UserError:
        raise
    except Exception as e:  # jinja syntax errors, raise_exception in a template
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise UserError(_t("the chat template failed on a conversation: {msg}", msg=msg)) from None


def render_segments(messages: list[dict], template: str, tokenizer: Any = None) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, is_answer) pieces; each assistant turn is an answer."""
    segs: list[tuple[str, bool]] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = apply_template(messages[:i], template, tokenizer, add_generation_prompt=True) if i else ""
        full = apply_template(messages[:i + 1], template, tokenizer)
        if full.startswith(prefix) and prefix.startswith(done):
            start = len(prefix)
        else:  # a template that rewrites earlier turns: find this answer's text in the render
            content = m["content"].strip()
            start = full.find(content, len(done)) if content else -1
            if start < 0 or not full.startswith(done):
                raise UserError(_t("the chat template renders earlier turns differently as the conversation "
                                "grows, so answers cannot be located; set data.chat_template"))
        if full[len(done):start]:
            segs.append((full[len(done):start], False))
        segs.append((full[start:], True))
        done = full
    if not segs:  # no assistant turn: nothing to answer (kept as prompt only)
        return [(apply_template(messages, template, tokenizer), False)]
    return segs


def _legacy_active(d: Any, fmt_name: str = "pair") -> bool:
    return bool(_cfg(d, "template")) and _cfg(d, "chat_template") is None and \
        fmt_name not in ("messages", "conversations", "text")


def template_writes_specials(tokenizer: Any, d: Any = None, fmt_name: str = "pair") -> bool:
    """True when the text comes from the model's (or a custom) chat template, which writes its
    own BOS/special tokens; else the tokenizer's BOS goes first, as for any plain text."""
    if fmt_name == "text" or _legacy_active(d, fmt_name):
        return False
    return chat_template_for(tokenizer, d)[1] in ("model", "custom")


def generation_prompt(text: str, tokenizer: Any, d: Any = None) -> str:
    """The prompt a trained run (and its base model) gets for a user's text."""
    if _legacy_active(d):
        return _legacy_prompt(_cfg(d, "template"), None, text)
    template, _ = chat_template_for(tokenizer, d)
    return apply_template([{"role": "user", "content": text}], template, tokenizer, add_generation_prompt=True)


def _legacy_prompt(template: str, row: dict | None, text: str | None = None) -> str:
    if row is None:  # generation: the user's text fills the template's first field
        import string

        names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
        return template.format(**{n: (text if i == 0 else "") for i, n in enumerate(names)})
    try:
        return template.format(**{k: _s(v) for k, v in row.items()})
    except KeyError as e:
        raise UserError(_t("template names a column that does not exist: {e}", e=e)) from None
    except (ValueError, IndexError) as e:
        raise UserError(_t("template is not a valid format string: {e}", e=e)) from None


def row_segments(row: dict, fmt: TextFormat, d: Any, tokenizer: Any) -> list[tuple[str, bool]]:
    """One row as (text, is_answer) pieces, with the template the run trains through."""
    if fmt.name == "text":
        return [(_s(row.get(fmt.column)), True)]
    if _legacy_active(d, fmt.name):
        resp = _s(row.get(fmt.response))
        eos = (getattr(tokenizer, "eos_token", None) or "") if tokenizer is not None else "<eos>"
        return [(_legacy_prompt(_cfg(d, "template"), row), False), (resp + eos, True)]
    template, _ = chat_template_for(tokenizer, d)
    return render_segments(row_messages(row, fmt), template, tokenizer)


# --------------------------------------------------------------------------- tokenizing
@dataclass
class EncodeStats:
    rows: int = 0
    truncated: int = 0  # prompt cut from the left
    answer_cut: int = 0  # the answer itself longer than the window: its end was cut
    skipped: int = 0  # no answer token at all
    windows: int = 0  # plain text: extra windows from long texts
    notes: list[str] = field(default_factory=list)

    def message(self, split: str, max_length: int) -> str | None:
        parts = []
        if self.truncated:
            parts.append(f"{self.truncated} of {self.rows} {split} examples were longer than max_length="
                         f"{max_length}: their prompts were cut from the left"
                         + (f" ({self.answer_cut} answers also lost their end)" if self.answer_cut else ""))
        if self.windows:
            parts.append(f"{split} texts longer than max_length={max_length} were split into "
                         f"{self.windows} extra windows")
        if self.skipped:
            parts.append(f"{self.skipped} {split} rows had no answer text and were skipped")
        return "; ".join(parts) or None


def _adds_bos(tokenizer: Any) -> int | None:
    """The BOS id the tokenizer puts before a text by itself (Llama-2 style), else None."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return None
    try:
        ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    except Exception:
        return None
    return bos if ids and ids[0] == bos else None


def _fit(ids: list[int], labels: list[int], max_length: int, stats: EncodeStats) -> tuple[list, list]:
    """Cut to max_length from the left of the prompt, never cutting the first kept answer's start."""
    n = len(ids)
    if n <= max_length:
        return ids, labels
    stats.truncated += 1
    drop = n - max_length
    starts = [i for i in range(n) if labels[i] != -100 and (i == 0 or labels[i - 1] == -100)]
    later = [s for s in starts if s >= drop]
    if later:  # cut `drop` tokens from the left; an answer cut through its middle is context now
        ids, labels = ids[drop:], labels[drop:]
        first = later[0] - drop
        labels = [-100] * first + labels[first:]
        return ids, labels
    s = starts[-1] if starts else n - max_length  # the last answer starts before the cut
    keep_prompt = min(s, max_length // 2)
    a = s - keep_prompt
    stats.answer_cut += 1
    labels = [-100] * keep_prompt + labels[s:a + max_length]
    return ids[a:a + max_length], labels


def encode_rows(rows: list[dict], d: Any, tokenizer: Any, max_length: int,
                progress: ProgressFn | None = None, split: str = "train") -> tuple[list[dict], EncodeStats]:
    """Tokenized examples {input_ids, labels, idx}; labels -100 where no loss is taken."""
    if not rows:
        return [], EncodeStats()
    out: list[dict] = []

    def keep(columns: dict[str, list]) -> None:
        for ids, labels in zip(columns["input_ids"], columns["labels"]):
            out.append({"input_ids": ids, "labels": labels, "idx": len(out)})

    stats = encode_batches([rows], len(rows), d, tokenizer, max_length, keep, progress, split)
    return out, stats


def encode_batches(batches: Any, n_rows: int, d: Any, tokenizer: Any, max_length: int,
                   write: Callable[[dict[str, list]], None], progress: ProgressFn | None = None,
                   split: str = "train") -> EncodeStats:
    """Tokenize row batches (lists of row dicts, the format detected from the first row) and hand
    each batch's examples to ``write({"input_ids": [...], "labels": [...]})``, so only one batch of
    rows and examples is ever held as Python objects (``data.prepare_data`` writes them to Arrow)."""
    stats = EncodeStats(rows=n_rows)
    loss_on = _cfg(d, "loss_on", "answer") or "answer"
    if loss_on not in LOSS_ON:
        raise UserError(_t("data.loss_on must be answer or all; got '{loss_on}'", loss_on=loss_on))
    what = _t("Tokenizing the training set") if split == "train" else _t("Tokenizing the evaluation set")
    fmt = bos = None
    done = kept = 0
    chunk = 1000
    for rows in batches:
        if not rows:
            continue
        if fmt is None:
            fmt = detect_format(list(rows[0].keys()), d, rows[0])
            bos = None if template_writes_specials(tokenizer, d, fmt.name) else _adds_bos(tokenizer)
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            out_ids: list[list[int]] = []
            out_labels: list[list[int]] = []
            segs = [row_segments(r, fmt, d, tokenizer) for r in part]
            flat = [t for s in segs for t, _ in s]
            enc = tokenizer(flat, add_special_tokens=False, verbose=False)["input_ids"] if flat else []
            k = 0
            for s in segs:
                ids: list[int] = []
                labels: list[int] = []
                if bos is not None:  # plain text / default template: the tokenizer's BOS first
                    ids.append(bos)
                    labels.append(-100)
                for _, is_answer in s:
                    piece = list(enc[k])
                    k += 1
                    ids += piece
                    labels += piece if (is_answer or loss_on == "all") else [-100] * len(piece)
                if fmt.name == "text":
                    eos = getattr(tokenizer, "eos_token_id", None)
                    if eos is not None:
                        ids.append(eos)
                        labels.append(eos)
                    for w in range(0, max(1, len(ids)), max_length):
                        win = ids[w:w + max_length]
                        if len(win) < 2:
                            continue
                        if w:
                            stats.windows += 1
                        out_ids.append(win)
                        out_labels.append(list(win))
                    continue
                if all(x == -100 for x in labels) or not any(is_a for _, is_a in s):
                    stats.skipped += 1
                    continue
                ids, labels = _fit(ids, labels, max_length, stats)
                if all(x == -100 for x in labels):
                    stats.skipped += 1
                    continue
                out_ids.append(ids)
                out_labels.append(labels)
            if out_ids:
                write({"input_ids": out_ids, "labels": out_labels})
                kept += len(out_ids)
            done += len(part)
            if progress:
                progress(what, min(done, n_rows), n_rows)
    if not kept:
        raise UserError(_t("no {split} example has text to learn from (empty answers, or "
                           "max_length={max_length} too small)",
                           split=split, max_length=max_length))
    return stats


# --------------------------------------------------------------------------- preview
def describe(rows: list[dict], d: Any, tokenizer: Any = None) -> dict:
    """Format facts for the data preview: name, title, template source, first example rendered
    as (text, is_answer) pieces. Raises UserError when the format cannot be told."""
    fmt = detect_format(list(rows[0].keys()), d, rows[0])
    segs = row_segments(rows[0], fmt, d, tokenizer)
    if fmt.name == "text":
        source = _t("none (plain text)")
    elif _legacy_active(d, fmt.name):
        source = "data.template"
    else:
        source = {"model": _t("the model's chat template"), "default": _t("the default template"),
                  "custom": "data.chat_template"}[chat_template_for(tokenizer, d)[1]]
    loss_on = _cfg(d, "loss_on", "answer") or "answer"
    return {"format": fmt.name, "title": fmt.title, "template": source,
            "loss_on": _t("every token") if fmt.name == "text" or loss_on == "all" else _t("answers only"),
            "example": [{"text": t, "answer": a} for t, a in segs]}


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """Token ids generation stops at: EOS plus the end-of-turn tokens the vocabulary has."""
    ids = []
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.append(eos)
    elif isinstance(eos, list):
        ids += eos
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    for t in END_OF_TURN_TOKENS:
        i = vocab.get(t)
        if i is not None and i not in ids:
            ids.append(i)
    return ids
