"""Corpus BLEU and chrF with sacrebleu (nlpkit's offline evaluate module).

BLEU uses sacrebleu's default 13a tokenization; chrF its defaults (character 6-grams, beta 2). Both are on a 0-100
scale, as sacrebleu reports them.
"""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "Corpus-level BLEU and chrF computed by sacrebleu (scores 0-100)."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the system's translations.
    references (list of str or list of list of str): one reference per prediction, or several.
    lowercase (bool): case-insensitive scores (default False).
    tokenize (str): BLEU tokenizer, default "13a".
Returns:
    bleu (float), chrf (float), and BLEU's details: bleu_brevity_penalty, bleu_length_ratio, and
    bleu_precisions (list of the four n-gram precisions)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
                ),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
            reference_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references, lowercase=False, tokenize="13a"):
        references = [[reference] if isinstance(reference, str) else list(reference) for reference in references]
        if len({len(group) for group in references}) > 1:
            raise ValueError("every prediction needs the same number of references")
        streams = [list(stream) for stream in zip(*references)]  # sacrebleu wants one list per reference set
        bleu = sacrebleu.corpus_bleu(predictions, streams, lowercase=lowercase, tokenize=tokenize)
        chrf = sacrebleu.corpus_chrf(predictions, streams)
        return {
            "bleu": float(bleu.score),
            "chrf": float(chrf.score),
            "bleu_brevity_penalty": float(bleu.bp),
            "bleu_length_ratio": float(bleu.sys_len / bleu.ref_len) if bleu.ref_len else 0.0,
            "bleu_precisions": [float(p) for p in bleu.precisions],
        }
