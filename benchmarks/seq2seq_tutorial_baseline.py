"""Training speed of nlpkit's RNN seq2seq against the tutorial model it replaces, on the same batches.

The baseline is the model of bentrevett/pytorch-seq2seq notebook 3 ("Neural Machine Translation by Jointly Learning
to Align and Translate"): 256-wide embeddings, a bidirectional GRU encoder (512 per direction), Bahdanau attention
recomputed at every target step inside a Python loop, a 512 GRU decoder fed [embedding; context], an output layer
over [output; context; embedding], dropout 0.5, N(0, 0.01) init, half teacher forcing, Adam, gradient clipping at 1.

Both timing functions train on batch-first padded LongTensors `(batch, length)` whose rows are
`<sos> tokens <eos> <pad>...`, and count target tokens as the non-pad tokens the model predicts (`tgt[:, 1:]`).
The module needs only torch; `main()` (a smoke test on Multi30k) also builds nlpkit's model.

    PYTHONPATH=. python benchmarks/seq2seq_tutorial_baseline.py --data-dir ../shared/datasets/multi30k --num-batches 8
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = [PAD, SOS, EOS, UNK]  # ids 0, 1, 2, 3


# ----------------------------------------------------------------------------------------------------------------------
# The tutorial model (sequence-first tensors, as in the notebook)


class TutorialEncoder(nn.Module):
    def __init__(self, input_dim: int, embedding_dim: int, encoder_hidden_dim: int, decoder_hidden_dim: int, dropout):
        super().__init__()
        self.embedding = nn.Embedding(input_dim, embedding_dim)
        self.rnn = nn.GRU(embedding_dim, encoder_hidden_dim, bidirectional=True)
        self.fc = nn.Linear(encoder_hidden_dim * 2, decoder_hidden_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedded = self.dropout(self.embedding(src))
        outputs, hidden = self.rnn(embedded)
        hidden = torch.tanh(self.fc(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)))
        return outputs, hidden


class TutorialAttention(nn.Module):
    def __init__(self, encoder_hidden_dim: int, decoder_hidden_dim: int):
        super().__init__()
        self.attn_fc = nn.Linear((encoder_hidden_dim * 2) + decoder_hidden_dim, decoder_hidden_dim)
        self.v_fc = nn.Linear(decoder_hidden_dim, 1, bias=False)

    def forward(self, hidden: torch.Tensor, encoder_outputs: torch.Tensor) -> torch.Tensor:
        src_length = encoder_outputs.shape[0]
        hidden = hidden.unsqueeze(1).repeat(1, src_length, 1)
        encoder_outputs = encoder_outputs.permute(1, 0, 2)
        energy = torch.tanh(self.attn_fc(torch.cat((hidden, encoder_outputs), dim=2)))
        attention = self.v_fc(energy).squeeze(2)
        return torch.softmax(attention, dim=1)


class TutorialDecoder(nn.Module):
    def __init__(self, output_dim, embedding_dim, encoder_hidden_dim, decoder_hidden_dim, dropout, attention):
        super().__init__()
        self.output_dim = output_dim
        self.attention = attention
        self.embedding = nn.Embedding(output_dim, embedding_dim)
        self.rnn = nn.GRU((encoder_hidden_dim * 2) + embedding_dim, decoder_hidden_dim)
        self.fc_out = nn.Linear((encoder_hidden_dim * 2) + decoder_hidden_dim + embedding_dim, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input, hidden, encoder_outputs):
        input = input.unsqueeze(0)
        embedded = self.dropout(self.embedding(input))
        a = self.attention(hidden, encoder_outputs).unsqueeze(1)
        weighted = torch.bmm(a, encoder_outputs.permute(1, 0, 2)).permute(1, 0, 2)
        rnn_input = torch.cat((embedded, weighted), dim=2)
        output, hidden = self.rnn(rnn_input, hidden.unsqueeze(0))
        prediction = self.fc_out(torch.cat((output.squeeze(0), weighted.squeeze(0), embedded.squeeze(0)), dim=1))
        return prediction, hidden.squeeze(0), a.squeeze(1)


class TutorialSeq2Seq(nn.Module):
    def __init__(self, encoder: TutorialEncoder, decoder: TutorialDecoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, src: torch.Tensor, trg: torch.Tensor, teacher_forcing_ratio: float) -> torch.Tensor:
        trg_length, batch_size = trg.shape
        outputs = torch.zeros(trg_length, batch_size, self.decoder.output_dim, device=trg.device)
        encoder_outputs, hidden = self.encoder(src)
        input = trg[0, :]
        for t in range(1, trg_length):
            output, hidden, _ = self.decoder(input, hidden, encoder_outputs)
            outputs[t] = output
            teacher_force = random.random() < teacher_forcing_ratio
            input = trg[t] if teacher_force else output.argmax(1)
        return outputs


def build_tutorial_model(src_vocab_size: int, tgt_vocab_size: int) -> TutorialSeq2Seq:
    """The notebook's sizes and init: embeddings 256, GRUs 512, dropout 0.5, weights N(0, 0.01), biases 0."""
    attention = TutorialAttention(512, 512)
    encoder = TutorialEncoder(src_vocab_size, 256, 512, 512, 0.5)
    decoder = TutorialDecoder(tgt_vocab_size, 256, 512, 512, 0.5, attention)
    model = TutorialSeq2Seq(encoder, decoder)
    for name, param in model.named_parameters():
        if "weight" in name:
            nn.init.normal_(param.data, mean=0, std=0.01)
        else:
            nn.init.constant_(param.data, 0)
    return model


# ----------------------------------------------------------------------------------------------------------------------
# Timing


def count_target_tokens(tgt_batches: list[torch.Tensor], pad_token_id: int = 0) -> int:
    """Tokens a model is trained to predict: everything after <sos> that is not padding."""
    return sum(int((tgt[:, 1:] != pad_token_id).sum()) for tgt in tgt_batches)


def _target_tokens_per_second(
    step: Callable[[torch.Tensor, torch.Tensor], None],
    src_batches: list[torch.Tensor],
    tgt_batches: list[torch.Tensor],
    num_batches: int,
    warmup_batches: int,
    pad_token_id: int,
    timer: Callable[[], float],
) -> float:
    """Run ``step`` on ``warmup_batches`` untimed batches, then time it on the next ``num_batches``."""
    if len(src_batches) < warmup_batches + num_batches:
        raise ValueError(f"need {warmup_batches + num_batches} batches, got {len(src_batches)}")
    for src, tgt in zip(src_batches[:warmup_batches], tgt_batches[:warmup_batches]):
        step(src, tgt)
    timed = list(zip(src_batches[warmup_batches:][:num_batches], tgt_batches[warmup_batches:][:num_batches]))
    start = timer()
    for src, tgt in timed:
        step(src, tgt)
    elapsed = timer() - start
    return count_target_tokens([tgt for _, tgt in timed], pad_token_id) / elapsed


def tutorial_tokens_per_second(
    src_batches: list[torch.Tensor],
    tgt_batches: list[torch.Tensor],
    src_vocab_size: int,
    tgt_vocab_size: int,
    num_batches: int,
    pad_token_id: int = 0,
    warmup_batches: int = 1,
    seed: int = 0,
    timer: Callable[[], float] = time.perf_counter,
) -> float:
    """Train the tutorial model on `num_batches` batches (after `warmup_batches` untimed ones); target tokens/s.

    `timer=time.process_time` measures CPU seconds instead of wall seconds, steadier on a shared machine."""
    torch.manual_seed(seed)
    random.seed(seed)
    model = build_tutorial_model(src_vocab_size, tgt_vocab_size).train()
    optimizer = torch.optim.Adam(model.parameters())
    criterion = nn.CrossEntropyLoss(ignore_index=pad_token_id)

    def step(src: torch.Tensor, tgt: torch.Tensor) -> None:
        src, tgt = src.t().contiguous(), tgt.t().contiguous()  # the notebook is sequence-first
        optimizer.zero_grad()
        output = model(src, tgt, teacher_forcing_ratio=0.5)
        loss = criterion(output[1:].view(-1, output.shape[-1]), tgt[1:].view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return _target_tokens_per_second(step, src_batches, tgt_batches, num_batches, warmup_batches, pad_token_id, timer)


def model_tokens_per_second(
    model: nn.Module,
    src_batches: list[torch.Tensor],
    tgt_batches: list[torch.Tensor],
    num_batches: int,
    pad_token_id: int = 0,
    warmup_batches: int = 1,
    learning_rate: float = 1e-3,
    seed: int = 0,
    timer: Callable[[], float] = time.perf_counter,
) -> float:
    """Train a Hugging Face seq2seq model (`input_ids`, `attention_mask`, `decoder_input_ids`, `labels` -> `.loss`)
    with a plain torch loop (Adam, clipping at 1) on the same batches; target tokens/s."""
    torch.manual_seed(seed)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

    def step(src: torch.Tensor, tgt: torch.Tensor) -> None:
        labels = tgt[:, 1:].masked_fill(tgt[:, 1:] == pad_token_id, -100)
        optimizer.zero_grad()
        loss = model(
            input_ids=src, attention_mask=src != pad_token_id, decoder_input_ids=tgt[:, :-1], labels=labels
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return _target_tokens_per_second(step, src_batches, tgt_batches, num_batches, warmup_batches, pad_token_id, timer)


# ----------------------------------------------------------------------------------------------------------------------
# Smoke test on Multi30k De->En with a tutorial-like word vocabulary (lowercased, min frequency 2)


def tokenize(line: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", line.lower())


def build_vocab(sentences: list[list[str]], min_freq: int = 2) -> dict[str, int]:
    counts = Counter(token for sentence in sentences for token in sentence)
    words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
    return {token: index for index, token in enumerate(SPECIALS + words)}


def make_batches(
    sentences: list[list[str]], vocab: dict[str, int], batch_size: int, order: list[int]
) -> list[torch.Tensor]:
    """Rows `<sos> ids <eos>` right-padded with 0, taken in `order` (one shuffled order for source and target)."""
    unk = vocab[UNK]
    batches = []
    for start in range(0, len(order) - batch_size + 1, batch_size):
        rows = [
            [vocab[SOS], *(vocab.get(t, unk) for t in sentences[i]), vocab[EOS]] for i in order[start:][:batch_size]
        ]
        batch = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
        for row_index, row in enumerate(rows):
            batch[row_index, : len(row)] = torch.tensor(row)
        batches.append(batch)
    return batches


def load_multi30k_batches(data_dir: Path, batch_size: int = 128, seed: int = 0):
    """De->En training batches and the two vocabulary sizes."""
    source = [tokenize(line) for line in (data_dir / "train.de").read_text(encoding="utf-8").splitlines()]
    target = [tokenize(line) for line in (data_dir / "train.en").read_text(encoding="utf-8").splitlines()]
    src_vocab, tgt_vocab = build_vocab(source), build_vocab(target)
    order = list(range(len(source)))
    random.Random(seed).shuffle(order)
    return (
        make_batches(source, src_vocab, batch_size, order),
        make_batches(target, tgt_vocab, batch_size, order),
        len(src_vocab),
        len(tgt_vocab),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets/multi30k"))
    parser.add_argument("--num-batches", type=int, default=8)
    parser.add_argument("--warmup-batches", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="cpu: process time (shared machines)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration

    src_batches, tgt_batches, src_vocab_size, tgt_vocab_size = load_multi30k_batches(args.data_dir, args.batch_size)
    config = RNNSeq2SeqConfig(vocab_size=src_vocab_size, decoder_vocab_size=tgt_vocab_size)
    model = RNNSeq2SeqForConditionalGeneration(config)
    timer = time.process_time if args.clock == "cpu" else time.perf_counter
    timing = {"num_batches": args.num_batches, "warmup_batches": args.warmup_batches, "timer": timer}
    nlpkit_speed = model_tokens_per_second(model, src_batches, tgt_batches, **timing)
    tutorial_speed = tutorial_tokens_per_second(src_batches, tgt_batches, src_vocab_size, tgt_vocab_size, **timing)
    print(
        json.dumps(
            {
                "benchmark": "seq2seq_training_tokens_per_second",
                "src_vocab_size": src_vocab_size,
                "tgt_vocab_size": tgt_vocab_size,
                "batch_size": args.batch_size,
                "num_batches": args.num_batches,
                "threads": torch.get_num_threads(),
                "clock": args.clock,
                "tutorial_tokens_per_second": round(tutorial_speed, 1),
                "nlpkit_tokens_per_second": round(nlpkit_speed, 1),
                "speedup": round(nlpkit_speed / tutorial_speed, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
