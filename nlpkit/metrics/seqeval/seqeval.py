"""Entity-level precision, recall and F1 (overall and per type) with seqeval (nlpkit's offline evaluate module).

An entity counts as found only when its type and its exact span both match, as in the CoNLL shared tasks' conlleval
script. Token accuracy is reported too, for reference (it is dominated by ``O`` tags).
"""

import datasets
import evaluate
import seqeval.scheme
from seqeval.metrics import accuracy_score, classification_report

_DESCRIPTION = "Entity-level precision, recall and F1 for IOB-tagged sequences (CoNLL / conlleval style), via seqeval."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of str): predicted tags of each sentence, e.g. [["B-PER", "I-PER", "O"]].
    references (list of list of str): gold tags, one list per sentence, of the same lengths.
    suffix (bool): tags are TYPE-B / TYPE-I instead of B-TYPE / I-TYPE.
    scheme (str): None (default: conlleval's lenient reading, where an I-X after O starts an entity) or a seqeval
        scheme name ("IOB2", "IOBES", ...) for strict mode, where invalid tag sequences never form an entity.
    zero_division (0 or 1): the value of a precision or recall whose denominator is 0.
Returns:
    overall_precision, overall_recall, overall_f1 (float): micro averages over all entities.
    overall_accuracy (float): fraction of tokens with the right tag.
    one entry per entity type, e.g. PER: {"precision", "recall", "f1", "number"} (number: gold entities of the type).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Seqeval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            reference_urls=["https://github.com/chakki-works/seqeval"],
        )

    def _compute(self, predictions, references, suffix=False, scheme=None, zero_division=0):
        for index, (predicted, gold) in enumerate(zip(predictions, references)):
            if len(predicted) != len(gold):
                raise ValueError(f"sentence {index}: {len(predicted)} predicted tags but {len(gold)} gold tags")
        strict = {"mode": "strict", "scheme": _scheme_class(scheme)} if scheme else {}
        report = classification_report(
            y_true=references,
            y_pred=predictions,
            suffix=suffix,
            output_dict=True,
            zero_division=zero_division,
            **strict,
        )
        overall = report.pop("micro avg")
        for average in ("macro avg", "weighted avg"):
            report.pop(average, None)
        results = {
            kind: {
                "precision": float(scores["precision"]),
                "recall": float(scores["recall"]),
                "f1": float(scores["f1-score"]),
                "number": int(scores["support"]),
            }
            for kind, scores in report.items()
        }
        results["overall_precision"] = float(overall["precision"])
        results["overall_recall"] = float(overall["recall"])
        results["overall_f1"] = float(overall["f1-score"])
        results["overall_accuracy"] = float(accuracy_score(y_true=references, y_pred=predictions))
        return results


def _scheme_class(name):
    try:
        return getattr(seqeval.scheme, name)
    except AttributeError:
        raise ValueError(f"unknown seqeval scheme {name!r} (e.g. IOB1, IOB2, IOE1, IOE2, IOBES, BILOU)") from None
