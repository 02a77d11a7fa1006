"""Word-level language modelling on Penn Treebank: cross-entropy per token, perplexity as the score (lower is better).

Training follows DARTS / AWD-LSTM: the training text is cut into ``batch_size`` contiguous
streams, read in BPTT windows of a randomly varied length (``harness.data.tokens``: ``bptt``,
``jitter``, ``max_seq_len_delta``) with the hidden state carried across windows and detached, for
a fixed number of windows per epoch or (``epoch_end = "text"``) until the text is read through.
A window of length ``seq_len`` weighs ``seq_len / bptt``: ``window_scaling = "loss"`` scales its
loss, ``"lr"`` its step's learning rate (``lr_factor``), as the seed paper's trainer does. The two
agree for plain SGD without clipping; with gradient clipping (the seed's 0.1) a scaled loss is
clipped back and the scaling is lost, while a scaled learning rate survives it. The optional
activation (``ar``, AWD-LSTM's alpha) and temporal activation (``tar``, beta) regularizers are
added to the cross-entropy. An architecture is scored with the shared weights by its perplexity
on a fixed token budget of the evaluation part (``eval_tokens``; the whole part when unset), read
in windows of ``bptt`` from a zero state at ``eval_batch_size`` streams. No batch norm: nothing
to recalibrate.

Its options (``task_options``, ``option_specs`` below) include ``train_part`` (``train``) and
``eval_part`` (``valid`` or ``test``); the protocol fields it reads: ``batch_size``, ``eval_batch_size``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.options import Option
from harness.api.space import TaskSpec
from harness.api.task import Batch, CellData, DataIdentity, ScoreField, Task
from harness.seeding import torch_stream

if TYPE_CHECKING:
    from harness.data.tokens import BpttStream


#: Where a window's length enters: its loss (wsbench's first choice) or its step's learning rate (DARTS, the seed).
WINDOW_SCALING = ("loss", "lr")
#: What an epoch is: ``windows`` (a fixed count, (positions - 1) // bptt) or ``text`` (read through to its end).
EPOCH_ENDS = ("windows", "text")


class LanguageModelling(Task):
    """Next-word prediction on Penn Treebank (10,000 words, ``<eos>`` included)."""

    name = "ptb"
    version = 1
    dataset = "ptb"
    score_fields = (ScoreField("perplexity", False, "perplexity on the evaluation token budget (lower is better)"),)
    option_specs: ClassVar[dict[str, Option]] = {
        "train_part": Option("train", str, choices=("train",), help="the text the supernet trains on"),
        "eval_part": Option("valid", str, choices=("valid", "test"), help="the text architectures are scored on"),
        "bptt": Option(35, int, min=2, help="BPTT window length"),
        "jitter": Option(True, bool, help="AWD-LSTM's random window lengths"),
        "train_tokens": Option(None, int, min=2, nullable=True, help="the first N training tokens (unset: all)"),
        "eval_tokens": Option(None, int, min=2, nullable=True, help="evaluation token budget (unset: the whole part)"),
        "ar": Option(0.0, float, min=0.0, help="activation regularizer weight (AWD-LSTM's alpha)"),
        "tar": Option(0.0, float, min=0.0, help="temporal activation regularizer weight (beta)"),
        "max_seq_len_delta": Option(20, int, min=0, help="jittered windows are at most bptt + this long"),
        "window_scaling": Option(
            "loss", str, choices=WINDOW_SCALING, help="a window's seq_len / bptt scales its loss or its step's lr"
        ),
        "epoch_end": Option("windows", str, choices=EPOCH_ENDS, help="an epoch is a fixed window count or the whole text"),
    }

    def __init__(self, vocab: int = 10_000, ar: float = 0.0, tar: float = 0.0, window_scaling: str = "loss") -> None:
        self.vocab, self.ar, self.tar = vocab, float(ar), float(tar)
        self.window_scaling = window_scaling

    def configure(self, protocol: Any) -> "LanguageModelling":
        """This task with the protocol's regularizer weights and window scaling (the loss and the step need them)."""
        opts = self.options(protocol)
        return LanguageModelling(self.vocab, opts["ar"], opts["tar"], opts["window_scaling"])

    def spec(self) -> TaskSpec:
        return TaskSpec(outputs=self.vocab)

    def check_protocol(self, protocol: Any) -> None:
        """Parts, options and sizes checked against PTB's token counts before any data is read."""
        from harness.data.ptb import PTB_TOKENS

        p, opts = protocol, self.options(protocol)
        n_train = min(PTB_TOKENS["train"], opts["train_tokens"] or PTB_TOKENS["train"])
        if n_train // p.batch_size <= opts["bptt"]:
            raise WsbenchError(
                f"protocol {p.name!r}: {n_train} training tokens in {p.batch_size} streams leave less than one "
                f"window of bptt {opts['bptt']}; lower batch_size or bptt, or raise train_tokens"
            )
        if PTB_TOKENS[opts["eval_part"]] // p.eval_batch_size < 2:
            raise WsbenchError(f"protocol {p.name!r}: eval_batch_size {p.eval_batch_size} leaves no evaluation window")

    def make_data(self, protocol: Any, seed: int, device: torch.device, arch_half: bool = False) -> CellData:
        from harness.data.ptb import load_ptb
        from harness.data.tokens import eval_windows, windows_per_epoch

        p, opts = protocol, self.options(protocol)
        if arch_half and opts["epoch_end"] == "text":  # the loop pairs each weight window with one architecture window
            raise WsbenchError(
                f"protocol {p.name!r}: epoch_end 'text' gives a varying number of windows, which a bi-level "
                "strategy cannot pair with its architecture windows; use epoch_end = 'windows'"
            )
        corpus = load_ptb()
        train = corpus.tokens("train")
        if opts["train_tokens"] is not None:
            train = train[: opts["train_tokens"]]
        corpus_train = train

        def stream(ids: Any, concern: str) -> BpttStream:
            return _stream(ids, p.batch_size, opts, device, torch_stream(seed, concern))

        arch_train = None
        if arch_half:
            # Bi-level strategies fit architecture weights on text the weights never see: the second
            # half of the training tokens (DARTS's RNN search uses the validation text, which we score on).
            half = len(train) // 2
            train, arch_ids = train[:half], train[half:]
            arch_train = stream(arch_ids, "archdata")
        evaluation = eval_windows(corpus.tokens(opts["eval_part"]), p.eval_batch_size, opts["bptt"], device, opts["eval_tokens"])
        training = stream(train, "data")
        return CellData(
            train=training,
            calib_batches=[],
            eval_batches=evaluation,
            n_train=training.num_examples,
            n_eval=sum(int(y.numel()) for _, y in evaluation),
            arch_train=arch_train,
            info={"source": corpus.source, "sha256": corpus.sha256, "unit": "tokens"},
            full_epoch_steps=windows_per_epoch(len(corpus_train), p.batch_size, opts["bptt"]),
        )

    def data_identity(self, protocol: Any) -> DataIdentity:
        """The SHA-256 of PTB's three texts (token ids depend on all three), and the parts and budgets read."""
        from harness.data.ptb import corpus_identity

        opts = self.options(protocol)
        keys = ("train_part", "train_tokens", "eval_part", "eval_tokens")
        return corpus_identity({k: opts[k] for k in keys})

    def synthetic_data(self, protocol: Any, seed: int, device: torch.device) -> CellData:
        """Random words in BPTT windows, as ``make_data`` windows the text: eight windows per epoch."""
        from harness.data.tokens import eval_windows

        p, opts = protocol, self.options(protocol)
        g = torch.Generator().manual_seed(int(seed))
        ids = torch.randint(0, self.vocab, (p.batch_size * (8 * opts["bptt"] + 1),), generator=g).numpy()
        held = torch.randint(0, self.vocab, (p.eval_batch_size * (2 * opts["bptt"] + 1),), generator=g).numpy()
        training = _stream(ids, p.batch_size, opts, device, torch_stream(seed, "data"))
        evaluation = eval_windows(held, p.eval_batch_size, opts["bptt"], device, opts["eval_tokens"])
        return CellData(
            train=training,
            calib_batches=[],
            eval_batches=evaluation,
            n_train=training.num_examples,
            n_eval=sum(int(y.numel()) for _, y in evaluation),
            info={"source": "synthetic", "unit": "tokens"},
        )

    def lr_factor(self, batch: Any) -> float:
        """With ``window_scaling = "lr"``: the window's length / bptt (the seed's ``lr = initial_lr * seq_len / bptt``)."""
        window = batch[0]
        return float(window.weight) if self.window_scaling == "lr" and hasattr(window, "weight") else 1.0

    def loss(self, output: Any, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per token (+ AR / TAR when set), scaled by the window's length / bptt
        (``window_scaling = "loss"``; with ``"lr"`` the step's learning rate carries that factor instead).

        ``output`` is the recurrent model's ``LMOutput``, or bare logits (then only the cross-entropy).
        """
        if isinstance(output, torch.Tensor):
            return F.cross_entropy(output.float(), target)
        loss = F.cross_entropy(output.logits.float(), target)
        if self.ar:
            loss = loss + self.ar * output.dropped.float().pow(2).mean()
        if self.tar and output.raw.shape[0] > 1:  # a one-step window has no temporal difference
            loss = loss + self.tar * (output.raw[1:] - output.raw[:-1]).float().pow(2).mean()
        return loss * output.weight if self.window_scaling == "loss" else loss

    def correct(self, output: Any, target: torch.Tensor) -> torch.Tensor:
        return (_logits(output).argmax(1) == target).sum()

    def synthetic_batch(self, n: int, generator: torch.Generator) -> Batch:
        """A window of one time step over ``n`` streams of random words: ``n`` predictions."""
        from harness.data.tokens import TokenBatch

        tokens = torch.randint(0, self.vocab, (2, n), generator=generator)
        return TokenBatch(tokens[:1]), tokens[1]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, arch: Any, batches: Sequence[Batch]) -> dict[str, float]:
        from harness.data.tokens import TokenBatch

        loss_sum, n, hidden = 0.0, 0, None
        for window, y in batches:
            batch = TokenBatch(window.tokens, hidden)
            out = model(batch, arch)
            hidden = batch.last_hidden
            loss_sum += float(F.cross_entropy(_logits(out).float(), y, reduction="sum"))
            n += int(y.numel())
        return {"perplexity": math.exp(min(loss_sum / max(1, n), 700.0))}


def _stream(ids: Any, batch_size: int, opts: dict[str, Any], device: torch.device, generator: torch.Generator) -> BpttStream:
    """The training windows the options ask for (length jitter and its bound, where an epoch ends)."""
    from harness.data.tokens import BpttStream

    return BpttStream(
        ids,
        batch_size,
        opts["bptt"],
        device,
        generator,
        jitter=opts["jitter"],
        max_delta=opts["max_seq_len_delta"],
        to_end=opts["epoch_end"] == "text",
    )


def _logits(output: Any) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else output.logits


PTB_LANGUAGE_MODEL = LanguageModelling()

#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"task": {"ptb": PTB_LANGUAGE_MODEL}}
