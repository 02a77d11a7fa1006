"""Token streams for language modelling: batchified ids, BPTT windows, hidden state carried across windows.

A window is a ``TokenBatch``: tokens ``[seq_len, batch]`` and the hidden state entering it. A
recurrent model reads ``batch.hidden`` (None: zeros) and hands back the state after the window
with ``batch.carry(h)``; the stream gives that state, detached, to the next window (truncated
backpropagation through time, as AWD-LSTM and DARTS train). When a step trains several paths on
one window, each starts from the same entering state and the last one's state is carried. Every
epoch starts from zeros at the start of the stream, so an epoch-boundary checkpoint (the random
stream's state) resumes exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class TokenBatch:
    """One BPTT window: ``tokens`` [seq_len, batch] (int64), the entering ``hidden`` state and a loss ``weight``."""

    __slots__ = ("tokens", "hidden", "weight", "last_hidden")

    def __init__(self, tokens: torch.Tensor, hidden: torch.Tensor | None = None, weight: float = 1.0) -> None:
        self.tokens = tokens
        self.hidden = hidden
        #: seq_len / bptt for a jittered training window: its loss is scaled so that every token
        #: weighs the same (DARTS and AWD-LSTM scale the learning rate instead; equal for plain SGD).
        self.weight = weight
        self.last_hidden: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> TokenBatch:
        """The window on ``device`` (a tensor's ``to``, so batches move alike)."""
        return TokenBatch(self.tokens.to(device), None if self.hidden is None else self.hidden.to(device), self.weight)

    def carry(self, hidden: torch.Tensor) -> None:
        """Record the state after this window (the model calls this)."""
        self.last_hidden = hidden

    @property
    def seq_len(self) -> int:
        """Time steps in the window."""
        return int(self.tokens.shape[0])


def batchify(ids: np.ndarray, batch_size: int, device: torch.device | str) -> torch.Tensor:
    """Ids cut into ``batch_size`` contiguous columns: [len // batch_size, batch_size] (the tail is dropped)."""
    n = len(ids) // batch_size
    data = torch.tensor(np.asarray(ids[: n * batch_size]), dtype=torch.long)
    return data.view(batch_size, n).t().contiguous().to(device)


def windows_per_epoch(n_tokens: int, batch_size: int, bptt: int) -> int:
    """Training windows per epoch over ``n_tokens`` in ``batch_size`` streams: (positions - 1) // bptt."""
    return max(0, (n_tokens // batch_size - 1) // bptt)


class BpttStream:
    """Training windows over one batchified stream, ``len(self)`` per epoch.

    With ``jitter`` the window length is drawn per window as AWD-LSTM / DARTS do: ``bptt`` with
    probability 0.95, else ``bptt / 2``, plus normal noise (sd 5), truncated to an integer and
    clipped to [``min_len``, ``bptt + max_delta``] (the seed paper's bounds: 5 and its
    ``max_seq_len_delta`` 20). Lengths come from ``generator`` (checkpointed). ``to_end``: the
    epoch runs until the text is read through (see the module docstring).
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        bptt: int,
        device: torch.device | str,
        generator: torch.Generator,
        jitter: bool = True,
        min_len: int = 5,
        max_delta: int = 20,
        to_end: bool = False,
    ) -> None:
        self.data = batchify(ids, batch_size, device)
        self.bptt, self.jitter, self.min_len = int(bptt), bool(jitter), int(min_len)
        self.max_len, self.to_end = int(bptt) + int(max_delta), bool(to_end)
        self.generator = generator
        self.batch_size = int(batch_size)
        self.num_examples = int(self.data.numel())  # tokens

    def __len__(self) -> int:
        return windows_per_epoch(self.num_examples, self.batch_size, self.bptt)

    def _length(self) -> int:
        if not self.jitter:
            return self.bptt
        half = float(torch.rand((), generator=self.generator)) >= 0.95
        mean = self.bptt / 2 if half else self.bptt
        drawn = int(mean + 5.0 * float(torch.randn((), generator=self.generator)))
        return int(np.clip(drawn, self.min_len, self.max_len))

    def __iter__(self) -> Iterator[tuple[TokenBatch, torch.Tensor]]:
        if self.to_end:
            yield from self._windows(self._starts_to_end())
            return
        yield from self._windows(self._starts_counted())

    def _starts_counted(self) -> Iterator[tuple[int, int]]:
        """(position, length) of ``len(self)`` windows; a position of 0 after the first restarts from zeros."""
        pos, last = 0, self.data.shape[0] - 1  # the last position that still has a next token
        for _ in range(len(self)):
            seq_len = self._length()
            if pos >= last:  # the stream ran out before len(self) windows: wrap, from zeros
                pos = 0
            seq_len = min(seq_len, last - pos)
            yield pos, seq_len
            pos += seq_len

    def _starts_to_end(self) -> Iterator[tuple[int, int]]:
        """(position, length) of windows until fewer than two positions are left (the seed's loader
        stops there, so a window and its targets always hold at least two tokens)."""
        pos, last = 0, self.data.shape[0] - 1
        while pos < last - 1:
            seq_len = min(self._length(), last - pos)
            yield pos, seq_len
            pos += seq_len

    def _windows(self, starts: Iterator[tuple[int, int]]) -> Iterator[tuple[TokenBatch, torch.Tensor]]:
        prev = None
        for pos, seq_len in starts:
            if pos == 0:
                prev = None
            hidden = prev.last_hidden.detach() if prev is not None and prev.last_hidden is not None else None
            batch = TokenBatch(self.data[pos : pos + seq_len], hidden, seq_len / self.bptt)
            yield batch, self.data[pos + 1 : pos + 1 + seq_len].reshape(-1)
            prev = batch


def eval_windows(
    ids: np.ndarray, batch_size: int, bptt: int, device: torch.device | str, max_tokens: int | None = None
) -> list[tuple[TokenBatch, torch.Tensor]]:
    """Fixed windows of ``bptt`` over a part, at most ``max_tokens`` predicted tokens (the scoring budget)."""
    data = batchify(ids, batch_size, device)
    out, pos, budget = [], 0, max_tokens if max_tokens is not None else data.numel()
    while pos < data.shape[0] - 1 and budget > 0:
        seq_len = min(bptt, data.shape[0] - 1 - pos, max(1, budget // batch_size))
        out.append((TokenBatch(data[pos : pos + seq_len]), data[pos + 1 : pos + 1 + seq_len].reshape(-1)))
        pos, budget = pos + seq_len, budget - seq_len * batch_size
    return out
