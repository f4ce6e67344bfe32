"""Precision, recall and F1 for classification, macro-averaged by default (nlpkit's offline evaluate module)."""

import datasets
import evaluate
from sklearn.metrics import precision_recall_fscore_support

_DESCRIPTION = "Precision, recall and F1 over classes (macro average by default), computed with scikit-learn."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted labels.
    references (list of int): true labels.
    average (str): 'macro' (default), 'micro', 'weighted' or 'binary'.
    labels (list of int): optional classes to include (default: all seen).
    pos_label (int): the positive class when average='binary'.
Returns:
    precision, recall, f1 (float)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PrecisionRecallF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.precision_recall_fscore_support.html"
            ],
        )

    def _compute(self, predictions, references, average="macro", labels=None, pos_label=1):
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, average=average, labels=labels, pos_label=pos_label, zero_division=0
        )
        return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
