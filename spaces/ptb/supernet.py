"""The DARTS recurrent language model and its weight-sharing supernet (one module: every cell uses all weights).

Per time step (DARTS RNN, as the seed paper's code uses it): ``s0 = h + sigmoid(c0) * (tanh(h0) - h)``
with ``[c0, h0] = [x, h] W0``; step ``i`` reads state ``s_j`` and computes
``[c, g] = s_j W_i``, ``s_{i+1} = s_j + sigmoid(c) * (act_i(g) - s_j)``; the output and the next
hidden state are the mean of ``s1 .. s8``. ``W_i`` belongs to step ``i`` whatever input and
activation a path chooses, so the supernet has exactly the weights of one stand-alone network: a
path *is* a stand-alone network with shared weights. Embedding and decoder are tied.

Dropouts (all configurable, DARTS / AWD-LSTM names): ``dropout_e`` whole words of the embedding,
``dropout_i`` locked (per sequence) on the embedded input, ``dropout_x`` / ``dropout_h`` variational
masks on the cell's input and hidden state, ``dropout`` locked on the output. Masks are drawn once
per window from the supernet's own generator (seeded with the init seed), whose state travels in
the state dict, so a resumed run draws the same masks.

The mixed forward (DARTS, GDAS) takes op weights [36 candidate edges (step i reads s_0..s_i), 5 ops
(``none`` first)]; step ``i``'s state is the op-weighted sum of the highway updates of its
``i + 1`` candidate edges divided by the step's total weight (``none`` included). DARTS sums them
and follows with a batch norm; without BN the division keeps the states in the highway's range
(for softmax rows it is the mean over the edges), and weights that are one-hot on one edge and op
per step give exactly that path's forward.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from harness.data.tokens import TokenBatch
from spaces.ptb.encoding import ACTIVATIONS, STEPS

#: DARTS's RNN relaxation: step i has i + 1 candidate edges; 5 ops each (``none`` first).
EDGES = STEPS * (STEPS + 1) // 2
MIXED_SHAPE = (EDGES, 1 + len(ACTIVATIONS))
DROPOUT_KEYS = ("dropout", "dropout_h", "dropout_x", "dropout_i", "dropout_e")
_ACTS = (torch.tanh, torch.relu, torch.sigmoid, lambda t: t)


def _lerp(start: torch.Tensor, end: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``torch.lerp``, whose operands must share a dtype: under bf16 autocast the matmul outputs are
    bf16 while the carried state stays float32, so they follow the state (float32 runs are untouched)."""
    if end.dtype != start.dtype:
        end, weight = end.to(start.dtype), weight.to(start.dtype)
    return torch.lerp(start, end, weight)


class LMOutput(NamedTuple):
    """What the model returns: logits [seq*batch, vocab], the cell outputs [seq, batch, hidden] before
    and after the output dropout (for the AR / TAR regularizers)."""

    logits: torch.Tensor
    raw: torch.Tensor
    dropped: torch.Tensor
    weight: float


def edge_offset(step: int) -> int:
    """Row of step ``step``'s first candidate edge (reading s0) in the mixed weights."""
    return step * (step + 1) // 2


class RecurrentSupernet(nn.Module):
    """Embedding -> DARTS recurrent cell (8 steps) -> tied decoder; ``forward(batch, arch)``."""

    def __init__(self, vocab: int, hidden: int, dropouts: dict[str, float], init_range: float = 0.04, *, seed: int = 0) -> None:
        super().__init__()
        self.vocab, self.hidden = int(vocab), int(hidden)
        self.dropouts = {k: float(dropouts.get(k, 0.0)) for k in DROPOUT_KEYS}
        gen = torch.Generator().manual_seed(int(seed))
        uniform = lambda *shape: (torch.rand(*shape, generator=gen) * 2 - 1) * init_range  # noqa: E731
        self.embedding = nn.Parameter(uniform(vocab, hidden))  # tied: the decoder's weight too
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        self.W0 = nn.Parameter(uniform(2 * hidden, 2 * hidden))  # [x, h] -> [c0, h0]
        self.Ws = nn.ParameterList([nn.Parameter(uniform(hidden, 2 * hidden)) for _ in range(STEPS)])
        self._mask_gen = torch.Generator().manual_seed(int(seed) ^ 0x5DEECE66D)

    # -- dropout masks (drawn per window on the CPU generator, then moved) ------------------------
    def get_extra_state(self) -> Any:
        return {"mask_rng": self._mask_gen.get_state()}

    def set_extra_state(self, state: Any) -> None:
        self._mask_gen.set_state(state["mask_rng"].cpu())

    def _mask(self, shape: tuple[int, ...], p: float, like: torch.Tensor) -> torch.Tensor | None:
        if not self.training or p <= 0:
            return None
        keep = 1.0 - p
        m = torch.empty(shape).bernoulli_(keep, generator=self._mask_gen) / keep
        return m.to(device=like.device, dtype=like.dtype)

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, batch: TokenBatch, arch: Any) -> LMOutput:
        tokens = batch.tokens
        seq_len, bsz = tokens.shape
        weight = self.embedding
        word_mask = self._mask((self.vocab, 1), self.dropouts["dropout_e"], weight)
        emb = F.embedding(tokens, weight * word_mask if word_mask is not None else weight)
        mask_i = self._mask((1, bsz, self.hidden), self.dropouts["dropout_i"], emb)
        emb = emb * mask_i if mask_i is not None else emb
        mask_x = self._mask((bsz, self.hidden), self.dropouts["dropout_x"], emb)
        mask_h = self._mask((bsz, self.hidden), self.dropouts["dropout_h"], emb)
        h = batch.hidden if batch.hidden is not None else emb.new_zeros(bsz, self.hidden)
        # The input half of [x, h] W0 for every time step at once (one large matmul instead of seq_len).
        x_part = (emb * mask_x if mask_x is not None else emb) @ self.W0[: self.hidden]
        step = self._path_step if not isinstance(arch, torch.Tensor) else self._mixed_step
        outputs = []
        for t in range(seq_len):
            h = step(x_part[t], h, mask_h, arch)
            outputs.append(h)
        batch.carry(h)
        raw = torch.stack(outputs)
        mask_o = self._mask((1, bsz, self.hidden), self.dropouts["dropout"], raw)
        dropped = raw * mask_o if mask_o is not None else raw
        logits = F.linear(dropped.reshape(-1, self.hidden), self.embedding, self.decoder_bias)
        return LMOutput(logits, raw, dropped, batch.weight)

    def _init_state(self, x_part: torch.Tensor, h: torch.Tensor, mask_h: torch.Tensor | None) -> torch.Tensor:
        hm = h * mask_h if mask_h is not None else h
        c0, h0 = (x_part + hm @ self.W0[self.hidden :]).chunk(2, dim=-1)
        return _lerp(h, torch.tanh(h0), torch.sigmoid(c0))  # h + sigmoid(c0) * (tanh(h0) - h), one op

    def _path_step(self, x_part: torch.Tensor, h: torch.Tensor, mask_h: torch.Tensor | None, arch: Any) -> torch.Tensor:
        states = [self._init_state(x_part, h, mask_h)]
        for i in range(STEPS):
            s_prev = states[arch[2 * i + 1]]
            c, g = ((s_prev * mask_h if mask_h is not None else s_prev) @ self.Ws[i]).chunk(2, dim=-1)
            states.append(_lerp(s_prev, _ACTS[arch[2 * i]](g), torch.sigmoid(c)))
        return torch.stack(states[1:]).mean(0)

    def _mixed_step(self, x_part: torch.Tensor, h: torch.Tensor, mask_h: torch.Tensor | None, w: torch.Tensor) -> torch.Tensor:
        states = [self._init_state(x_part, h, mask_h)]
        for i in range(STEPS):
            prev = torch.stack(states)  # [i + 1, batch, hidden]: every candidate input
            c, g = ((prev * mask_h if mask_h is not None else prev) @ self.Ws[i]).chunk(2, dim=-1)
            c = torch.sigmoid(c)
            rows = w[edge_offset(i) : edge_offset(i) + i + 1].to(prev.dtype)  # [i + 1, 5]
            # k = 0 is ``none``: contributes zero. The sum starts from 0, term by term.
            terms = (rows[:, k, None, None] * _lerp(prev, act(g), c) for k, act in enumerate(_ACTS, start=1))
            mixed = 0 + next(terms)
            for term in terms:
                mixed = mixed + term
            states.append(mixed.sum(0) / rows.sum().clamp_min(1e-6))
        return torch.stack(states[1:]).mean(0)
