"""Sentence VAE vs an LSTM language model of the same size on Multi30k English captions, the same epochs each.

    python benchmarks/sentence_vae.py --data /work/shared/datasets [--epochs 5] [--log vae.log]

Each system runs in its own process (benchmarks/workers.py) and reports one JSON line: the VAE (recipes/sentence_vae.py
with multi30k.yaml) its NLL bound, KL (nats per sentence) and active units on val.en; the LM (nlpkit's LSTM LM, GRU
sizes of the VAE: hidden 256, embedding 300, the VAE's word tokenizer, one sentence per sequence) its exact NLL per
sentence on the same sentences. Targets: KL >= 3 nats, at least half the latent units active, NLL bound within 5% of
the LM's NLL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.workers import report, run_worker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "recipes" / "configs" / "sentence_vae" / "multi30k.yaml"


def vae_worker(data: Path, epochs: int, out: Path) -> None:
    import runpy

    os.environ["NLPKIT_SHARED_DATA"] = str(data)
    start = time.perf_counter()
    main = runpy.run_path(str(REPO / "recipes" / "sentence_vae.py"))["main"]
    results = main(["--config", str(CONFIG), "--output_dir", str(out), "--num_train_epochs", str(epochs),
                    "--resume_from_checkpoint", "none", "--save_strategy", "no"])  # fmt: skip
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()][-1]
    report({
        "system": "sentence_vae", "epochs": epochs, "nll_bound": results["eval_nll_bound"],
        "reconstruction": results["eval_reconstruction"], "kl": results["eval_kl"],
        "active_units": results["eval_active_units"], "perplexity_bound": results["eval_perplexity_bound"],
        "seconds": round(time.perf_counter() - start, 1), "samples": samples,
    })  # fmt: skip


def lm_worker(data: Path, epochs: int, out: Path) -> None:
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from nlpkit.data.classification import PaddingCollator
    from nlpkit.models.lstm_lm import LSTMForCausalLM, LSTMLMConfig
    from nlpkit.tokenization import train_tokenizer

    start = time.perf_counter()
    train = [line.strip() for line in (data / "multi30k" / "train.en").read_text().splitlines() if line.strip()]
    val = [line.strip() for line in (data / "multi30k" / "val.en").read_text().splitlines() if line.strip()]
    tokenizer = train_tokenizer(train, kind="word", vocab_size=10_000, min_frequency=1, lowercase=True,
                                bos_token="<s>", eos_token="</s>", add_bos_token=True, add_eos_token=True)  # fmt: skip

    def encode(texts: list[str]) -> list[list[int]]:
        return [ids for ids in tokenizer(texts)["input_ids"] if len(ids) <= 40]  # the VAE's max_length

    config = LSTMLMConfig(vocab_size=len(tokenizer), embedding_size=300, hidden_size=256, num_hidden_layers=1,
                          dropout=0.3, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    model = LSTMForCausalLM(config)
    collate = PaddingCollator.for_tokenizer(tokenizer)

    def with_labels(rows):
        batch = collate(rows)
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        return batch

    args = TrainingArguments(output_dir=str(out), num_train_epochs=epochs, per_device_train_batch_size=32,
                             learning_rate=1e-3, lr_scheduler_type="constant", max_grad_norm=5.0, save_strategy="no",
                             report_to=[], logging_steps=100, remove_unused_columns=False)  # fmt: skip
    Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"input_ids": encode(train)}),
            data_collator=with_labels).train()  # fmt: skip
    model.eval()
    rows = [{"input_ids": ids} for ids in encode(val)]
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            batch = {k: v.to(model.device) for k, v in with_labels(rows[i : i + 64]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            total += float(torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(), reduction="sum"))  # fmt: skip
    report({"system": "lstm_lm", "epochs": epochs, "nll_per_sentence": total / len(rows),
            "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--worker", choices=["vae", "lm"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--log", type=Path, help="append the workers' output here (follow it with tail -f)")
    args = parser.parse_args()
    if args.worker:
        (vae_worker if args.worker == "vae" else lm_worker)(args.data, args.epochs, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        for worker in ("lm", "vae"):  # the LM first: it is the shorter run and sets the bar
            common = ["--data", str(args.data), "--epochs", str(args.epochs), "--out", f"{tmp}/{worker}"]
            line = run_worker(__file__, ["--worker", worker, *common], log_file=args.log)
            print(json.dumps(line), flush=True)
            lines.append(line)
    lm, vae = lines
    gap = (vae["nll_bound"] - lm["nll_per_sentence"]) / lm["nll_per_sentence"]
    print(json.dumps({
        "comparison": "sentence_vae vs lstm_lm", "nll_bound_over_lm": round(gap, 4), "kl": vae["kl"],
        "active_units": vae["active_units"],
        "targets": {"kl>=3": vae["kl"] >= 3, "active>=half": vae["active_units"] >= 8, "nll_within_5%": gap <= 0.05},
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
