"""Train word vectors (Word2Vec skip-gram / CBOW with negative sampling, or GloVe) on a corpus of text.

    accelerate launch recipes/word_vectors.py                     # offline quickstart on nlpkit's sample prose
    accelerate launch recipes/word_vectors.py --train_file corpus/  # local .txt/.gz files (one or many, a folder)
    NLPKIT_SHARED_DATA=/path/to/datasets NLPKIT_WORD_VECTOR_CORPUS=/path/to/corpus \\
        accelerate launch recipes/word_vectors.py --config recipes/configs/word_vectors/english_local.yaml
    accelerate launch recipes/word_vectors.py --config recipes/configs/word_vectors/wikitext_hub.yaml
    accelerate launch recipes/word_vectors.py --model glove         # GloVe instead of skip-gram

Each line of the corpus is a sentence (windows never cross lines), split into words and lowercased; the vocabulary
keeps the words seen `min_count` times. The model's settings are the fields of `Word2VecConfig` (`--architecture
cbow --window 5 --negative 5 --sample 1e-3 --embedding_size 100`) or `GloVeConfig` (`--x_max 100 --alpha 0.75`).
After each evaluation the vectors are scored on the analogy and similarity sets of `evaluation_dir`. The saved folder
holds the model (`AutoModel`, `trust_remote_code=True`), its vocabulary and `vectors.txt` in word2vec text format
(gensim's `KeyedVectors.load_word2vec_format` reads it); `nlpkit similar DIR king` prints neighbours, and
`--word_vectors DIR` starts the LSTM classifier, BiLSTM-CRF or RNN seq2seq from it. `--help` lists every key.
"""

from pathlib import Path

from nlpkit.cli import recipe_main
from nlpkit.tasks import word_vectors
from nlpkit.tasks.word_vectors import from_scratch
from nlpkit.training import TrainingArguments, start_run

QUICKSTART = Path(__file__).resolve().parent / "configs" / "word_vectors" / "quickstart.yaml"

DEFAULTS = {**word_vectors.DEFAULTS, "output_dir": "outputs/word_vectors"}


def main(argv: list[str] | None = None) -> dict:
    run = start_run(
        [from_scratch.Arguments, word_vectors.Arguments, TrainingArguments],
        argv,
        default_config=QUICKSTART,
        defaults=DEFAULTS,
    )
    data = word_vectors.load_data(run)  # the corpus, its vocabulary (min_count) and chunks of sentences
    setup = from_scratch.build(run, data)  # Word2Vec with its example collator, or GloVe with co-occurrence rows
    return word_vectors.train(run, data, setup)


if __name__ == "__main__":
    recipe_main(main)
