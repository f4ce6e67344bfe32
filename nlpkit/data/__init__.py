"""Data loading shared by every recipe: Hub datasets and local files, validated with errors that name file and row."""

from nlpkit.data.classification import (
    ClassificationData,
    ClassificationDataArguments,
    load_classification_data,
    tokenize_classification,
)
from nlpkit.data.loading import DataArguments, DataError, RawData, load_local_file, load_raw_data

__all__ = [
    "ClassificationData",
    "ClassificationDataArguments",
    "DataArguments",
    "DataError",
    "RawData",
    "load_classification_data",
    "load_local_file",
    "load_raw_data",
    "tokenize_classification",
]
