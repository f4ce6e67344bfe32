"""A sentence VAE (Bowman et al. 2016): sentences encoded into a Gaussian latent code and decoded from it; samples
from the prior, reconstructions and an interpolation after each evaluation.

    accelerate launch recipes/sentence_vae.py                 # offline quickstart on nlpkit's sample prose
    NLPKIT_SHARED_DATA=/path/to/datasets accelerate launch recipes/sentence_vae.py \
        --config recipes/configs/sentence_vae/multi30k.yaml   # Multi30k English captions (Bowman et al.'s sizes)

The model's settings are the fields of `SentenceVAEConfig` (`--latent_size 16 --word_dropout 0.25 --kl_annealing
logistic --kl_anneal_steps 2000 --free_bits 0.1`); a word-level tokenizer is trained on the sentences. Evaluation
reports the ELBO, reconstruction NLL and KL (nats per sentence), the perplexity bound and the active latent units.
`nlpkit generate DIR` samples from the saved VAE; `--help` lists every key.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.tasks import sentence_vae
from nlpkit.tasks.sentence_vae import from_scratch
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "sentence_vae" / "quickstart.yaml"

DEFAULTS = {**sentence_vae.DEFAULTS, "output_dir": "outputs/sentence_vae"}


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [from_scratch.Arguments, sentence_vae.Arguments, TrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    data = sentence_vae.load_data(run)  # one sentence per row, train and validation
    setup = from_scratch.build(run, data)  # a word tokenizer trained on the sentences + a new sentence VAE
    return sentence_vae.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
