"""Hand-written baseline for the LSTM sentiment classifier, in the style of the classic tutorial.

It follows bentrevett/pytorch-sentiment-analysis, "Upgraded Sentiment Analysis" (packed padded sequences):
embedding 100 -> LSTM 256 over packed sequences -> final hidden state -> dropout 0.5 -> linear, Adam at its default
learning rate, batches of 64. The notebook stacks 2 bidirectional layers; the default here is the notebook's smaller
form (one unidirectional layer, as in the earlier "Simple Sentiment Analysis" notebook), and `num_layers` and
`bidirectional` switch to the upgraded variant. Compare with nlpkit at the same settings
(`LSTMClassifierConfig(cell="lstm", pooling="last", num_layers=..., bidirectional=...)`).

Only torch is used, so the numbers measure a plain PyTorch loop. `train_baseline` returns training throughput
(sequences per second, evaluation excluded) and dev accuracy. As a script it reads SST-2 style TSV files
(`sentence<TAB>label`, with a header) and prints one JSON line:

    python benchmarks/lstm_baseline.py --train ../shared/datasets/sst2/train.tsv \
        --dev ../shared/datasets/sst2/dev.tsv --epochs 1
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

PAD, UNK = "<pad>", "<unk>"


def build_vocab(texts: Iterable[str], max_size: int = 25_000, min_freq: int = 1) -> dict[str, int]:
    """Whitespace vocabulary: `<pad>`=0, `<unk>`=1, then up to `max_size` most frequent words (ties: first seen)."""
    counts = Counter(word for text in texts for word in text.split())
    vocab = {PAD: 0, UNK: 1}
    for word, count in counts.most_common(max_size):
        if count < min_freq:
            break
        vocab[word] = len(vocab)
    return vocab


def encode(texts: Iterable[str], vocab: dict[str, int]) -> list[list[int]]:
    """Token ids of each text (whitespace split; unknown words -> `<unk>`; an empty text -> one `<unk>`)."""
    unk = vocab[UNK]
    return [[vocab.get(word, unk) for word in text.split()] or [unk] for text in texts]


class LSTMSentiment(nn.Module):
    """The tutorial model: embedding, LSTM over packed sequences, last hidden state(s), dropout, linear."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 100,
        hidden_size: int = 256,
        num_labels: int = 2,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.5,
        pad_index: int = 0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.num_directions = 2 if bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * self.num_directions, num_labels)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        last = hidden[-self.num_directions :].transpose(0, 1).reshape(ids.size(0), -1)
        return self.fc(self.dropout(last))


def _batches(ids: Sequence[list[int]], labels: Sequence[int], batch_size: int, shuffle: bool, rng: random.Random):
    order = list(range(len(ids)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        sequences = [torch.tensor(ids[i]) for i in chunk]
        lengths = torch.tensor([len(s) for s in sequences])
        yield (
            pad_sequence(sequences, batch_first=True, padding_value=0),
            lengths,
            torch.tensor([labels[i] for i in chunk]),
        )


@torch.no_grad()
def evaluate(model: LSTMSentiment, ids: Sequence[list[int]], labels: Sequence[int], batch_size: int = 256) -> float:
    """Accuracy of `model` on (ids, labels)."""
    model.eval()
    correct = 0
    for batch_ids, lengths, batch_labels in _batches(ids, labels, batch_size, shuffle=False, rng=random.Random(0)):
        correct += (model(batch_ids, lengths).argmax(-1) == batch_labels).sum().item()
    return correct / max(len(ids), 1)


def train_baseline(
    train_ids: Sequence[list[int]],
    train_labels: Sequence[int],
    dev_ids: Sequence[list[int]],
    dev_labels: Sequence[int],
    vocab_size: int,
    epochs: int = 1,
    batch_size: int = 64,
    embedding_dim: int = 100,
    hidden_size: int = 256,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
    max_steps: int | None = None,
    seed: int = 0,
) -> dict:
    """Train the tutorial model for `epochs` (or `max_steps` batches) and return throughput and dev accuracy.

    Returns a dict with `train_samples_per_second` (training sequences / training wall time, evaluation excluded),
    `dev_accuracy`, `train_seconds`, `train_samples`, `steps`, `final_loss` and `num_parameters`.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    num_labels = max(max(train_labels), max(dev_labels, default=0)) + 1
    model = LSTMSentiment(
        vocab_size,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_labels=num_labels,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()

    steps, samples, loss = 0, 0, torch.tensor(float("nan"))
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for batch_ids, lengths, batch_labels in _batches(train_ids, train_labels, batch_size, shuffle=True, rng=rng):
            optimizer.zero_grad()
            loss = loss_fn(model(batch_ids, lengths), batch_labels)
            loss.backward()
            optimizer.step()
            steps += 1
            samples += len(batch_labels)
            if max_steps is not None and steps >= max_steps:
                break
        if max_steps is not None and steps >= max_steps:
            break
    train_seconds = time.perf_counter() - start

    return {
        "train_samples_per_second": samples / train_seconds,
        "dev_accuracy": evaluate(model, dev_ids, dev_labels),
        "train_seconds": train_seconds,
        "train_samples": samples,
        "steps": steps,
        "final_loss": loss.item(),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


def read_tsv(path: str | Path, limit: int | None = None) -> tuple[list[str], list[int]]:
    """Texts and integer labels of a `sentence<TAB>label` file with a header row."""
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            if limit is not None and len(texts) >= limit:
                break
            texts.append(row[0])
            labels.append(int(row[1]))
    return texts, labels


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="TSV with sentence<TAB>label and a header")
    parser.add_argument("--dev", required=True)
    parser.add_argument("--limit", type=int, default=None, help="read only the first N training rows")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--max-vocab", type=int, default=25_000)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    train_texts, train_labels = read_tsv(args.train, args.limit)
    dev_texts, dev_labels = read_tsv(args.dev)
    vocab = build_vocab(train_texts, max_size=args.max_vocab)
    result = train_baseline(
        encode(train_texts, vocab),
        train_labels,
        encode(dev_texts, vocab),
        dev_labels,
        vocab_size=len(vocab),
        epochs=args.epochs,
        batch_size=args.batch_size,
        num_layers=args.num_layers,
        bidirectional=args.bidirectional,
        max_steps=args.max_steps,
        seed=args.seed,
    )
    result = {"name": "lstm_baseline", "vocab_size": len(vocab), "threads": torch.get_num_threads(), **result}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
