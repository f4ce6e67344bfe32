"""What one step of beam search costs: nlpkit's RNN decoder against Transformer decoders of 3, 2 and 1 layers.

    python benchmarks/decode_steps.py --data ../shared/datasets/multi30k [--steps 30] [--batch_size 64] [--beams 5]

The models have the sizes of `multi30k_de_en.yaml` (GRU 256, embedding 256) and `multi30k_transformer.yaml` (width
256, 4 heads, FFN 1024, 3 encoder layers), an 8000-token vocabulary and random weights: the cost of a step does not
depend on the weights, and every model decodes exactly `--steps` tokens (EOS suppressed), so steps compare one to one.
Each Transformer runs with transformers' own cache and with nlpkit's `BeamSearchCache` (which skips the reordering of
the cross-attention cache; same translations). Prints one JSON line per system, then a comparison line with each
system's time per step over the RNN's (`benchmarks/translation.py` gives trained models' BLEU and sentences/s; their
step counts differ, which this benchmark takes out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import M2M100Config, M2M100ForConditionalGeneration

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from nlpkit.models.rnn_seq2seq import RNNSeq2SeqConfig, RNNSeq2SeqForConditionalGeneration  # noqa: E402
from nlpkit.pipelines import beam_search_cache  # noqa: E402
from nlpkit.tasks.translation.from_scratch import PRE_NORM_TRANSFORMER  # noqa: E402

VOCAB_SIZE, PAD, BOS, EOS = 8000, 0, 2, 3
SPECIAL = {"vocab_size": VOCAB_SIZE, "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS}


def source_batches(data: Path, batch_size: int, batches: int) -> list[dict[str, torch.Tensor]]:
    """Batches of random token ids with the lengths of Multi30k's German validation sentences (words x 1.4, about
    the BPE pieces per word of the recipes' 8k joint vocabulary), right-padded, ending in EOS."""
    lines = (data / "val.de").read_text(encoding="utf-8").splitlines()[: batch_size * batches]
    generator = torch.Generator().manual_seed(0)
    out = []
    for start in range(0, len(lines), batch_size):
        lengths = torch.tensor([round(1.4 * len(line.split())) + 1 for line in lines[start : start + batch_size]])
        ids = torch.randint(4, VOCAB_SIZE, (len(lengths), int(lengths.max())), generator=generator)
        positions = torch.arange(ids.shape[1])
        ids[positions == (lengths - 1)[:, None]] = EOS
        mask = positions < lengths[:, None]
        out.append({"input_ids": ids * mask, "attention_mask": mask.long()})
    return out


def seconds_per_step(model, batches: list[dict], args: argparse.Namespace, fast_cache: bool) -> float:
    options = {"num_beams": args.beams, "max_new_tokens": args.steps, "min_new_tokens": args.steps, "use_cache": True}
    with torch.no_grad():
        for index, batch in enumerate([batches[0], *batches]):  # the first batch again, untimed, to warm up
            if index == 1:
                started = time.perf_counter()
            model.generate(**batch, **options, **(beam_search_cache(model) if fast_cache else {}))
    return (time.perf_counter() - started) / (len(batches) * args.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="Multi30k folder (val.de gives the source lengths).")
    parser.add_argument("--steps", type=int, default=30, help="Tokens each beam decodes.")
    parser.add_argument("--batch_size", type=int, default=64, help="Sources per generate() call.")
    parser.add_argument("--batches", type=int, default=4, help="Timed batches per system.")
    parser.add_argument("--beams", type=int, default=5)
    args = parser.parse_args()
    if not (args.data / "val.de").is_file():
        parser.error(f"{args.data / 'val.de'} not found: --data must be the Multi30k folder")
    torch.manual_seed(0)
    batches = source_batches(args.data, args.batch_size, args.batches)
    rnn = RNNSeq2SeqForConditionalGeneration(
        RNNSeq2SeqConfig(
            embedding_size=256, hidden_size=256, share_embeddings=True, decoder_start_token_id=BOS, **SPECIAL
        )
    ).eval()
    systems = {"rnn": (rnn, False)}
    for layers in (3, 2, 1):
        config = M2M100Config(
            **{**PRE_NORM_TRANSFORMER, "decoder_layers": layers}, scale_embedding=True, max_position_embeddings=130,
            decoder_start_token_id=BOS, forced_eos_token_id=None, **SPECIAL,
        )  # fmt: skip
        model = M2M100ForConditionalGeneration(config).eval()
        systems[f"transformer_3+{layers}"] = (model, False)
        systems[f"transformer_3+{layers}_beam_search_cache"] = (model, True)
    per_step = {}
    for name, (model, fast_cache) in systems.items():
        per_step[name] = seconds_per_step(model, batches, args, fast_cache)
        line = {"benchmark": "decode_steps", "name": name, "ms_per_step": round(1000 * per_step[name], 2)}
        line |= {"beams": args.beams, "batch_size": args.batch_size, "threads": torch.get_num_threads()}
        print(json.dumps(line), flush=True)
    ratios = {name: round(seconds / per_step["rnn"], 2) for name, seconds in per_step.items() if name != "rnn"}
    print(json.dumps({"benchmark": "decode_steps", "comparison": "time per step / the RNN's", "ratios": ratios}))


if __name__ == "__main__":
    main()
