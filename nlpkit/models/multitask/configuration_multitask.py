"""Configuration of the multi-task model: one shared encoder, one head per task."""

from typing import Any, Literal

from transformers import AutoConfig, PreTrainedConfig

HEAD_KINDS = ("sequence_classification", "token_classification", "span", "regression")
CLASSIFICATION_KINDS = ("sequence_classification", "token_classification")
HEAD_KEYS = ("name", "kind", "labels", "crf")
ENCODER_TYPES = ("pretrained", "bilstm")
BILSTM_DEFAULTS: dict[str, Any] = {
    "vocab_size": 10000,
    "embedding_size": 100,
    "hidden_size": 100,
    "num_layers": 1,
    "dropout": 0.1,
    "pad_token_id": 0,
}


def normalise_head(index: int, head: Any) -> dict[str, Any]:
    """A head's dict with every key (`labels` a list, `crf` a bool), or a ValueError naming the head."""
    if not isinstance(head, dict):
        raise ValueError(f"heads[{index}] must be a dict with name, kind (and labels), got {head!r}")
    name = head.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"heads[{index}] needs a non-empty string 'name', got {name!r}")
    unknown = sorted(set(head) - set(HEAD_KEYS))
    if unknown:
        raise ValueError(f"head {name!r}: unknown keys {unknown} (known: {', '.join(HEAD_KEYS)})")
    kind = head.get("kind")
    if kind not in HEAD_KINDS:
        raise ValueError(f"head {name!r}: kind must be one of {', '.join(HEAD_KINDS)}, got {kind!r}")
    labels = list(head.get("labels") or [])
    if kind in CLASSIFICATION_KINDS:
        if not labels:
            raise ValueError(f"head {name!r}: a {kind} head needs 'labels' (the label names)")
        if len(set(labels)) != len(labels) or not all(isinstance(label, str) for label in labels):
            raise ValueError(f"head {name!r}: 'labels' must be distinct strings, got {labels}")
    elif labels:
        raise ValueError(f"head {name!r}: a {kind} head takes no 'labels', got {labels}")
    crf = bool(head.get("crf", False))
    if crf and kind != "token_classification":
        raise ValueError(f"head {name!r}: 'crf' is for token_classification heads only, not {kind}")
    return {"name": name, "kind": kind, "labels": labels, "crf": crf}


class MultiTaskConfig(PreTrainedConfig):
    """Configuration of [`MultiTaskModel`]: a shared encoder and a list of task heads.

    The encoder is either a transformers encoder of the BERT family (`encoder_type="pretrained"`, `encoder` its
    config: a `PreTrainedConfig` or its dict with `model_type`, as in a `config.json`), or nlpkit's BiLSTM
    (`encoder_type="bilstm"`, `encoder` a dict of the keys of `BILSTM_DEFAULTS`). A config with exactly one
    classification head carries that head's labels as `id2label` / `label2id` (a regression head sets
    `problem_type="regression"`), so the token- and text-classification pipelines read them.

    Args:
        encoder_type: Kind of the shared encoder: `"pretrained"` (a transformers encoder such as BERT, usually with
            pretrained weights, see `MultiTaskModel.from_pretrained_encoder`) or `"bilstm"` (nlpkit's BiLSTM).
        encoder: Settings of the encoder. For `"pretrained"`: a transformers config (or its dict, with `model_type`;
            None gives a default `BertConfig`). For `"bilstm"`: a dict with `vocab_size`, `embedding_size`,
            `hidden_size` (each direction), `num_layers`, `dropout` and `pad_token_id` (missing keys get defaults).
        heads: The task heads, each a dict `{"name": str, "kind": "sequence_classification" |
            "token_classification" | "span" | "regression", "labels": [str, ...] (classification kinds only),
            "crf": bool (token_classification only: a linear-chain CRF over the tags)}`.
        classifier_dropout: Dropout before each classification or regression head. None takes the encoder's
            (`hidden_dropout_prob` of a BERT-family encoder, `dropout` of the BiLSTM), as BERT's heads do.
    """

    model_type = "multitask"

    encoder_type: Literal["pretrained", "bilstm"] = "pretrained"
    encoder: PreTrainedConfig | dict | None = None
    heads: list[dict] | None = None
    classifier_dropout: float | None = None

    def __post_init__(self, **kwargs):
        if self.encoder_type not in ENCODER_TYPES:
            raise ValueError(f"encoder_type must be one of {', '.join(ENCODER_TYPES)}, got {self.encoder_type!r}")
        if self.encoder_type == "pretrained":
            self.encoder = self._pretrained_encoder_config(self.encoder)
        else:
            self.encoder = self._bilstm_settings(self.encoder)
        self.heads = [normalise_head(index, head) for index, head in enumerate(self.heads or [])]
        names = [head["name"] for head in self.heads]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"head names must be unique, repeated: {repeated}")
        if len(self.heads) == 1:  # a one-head model is a plain classifier to pipelines: they read these
            kwargs.pop("num_labels", None)
            head = self.heads[0]
            if head["labels"]:
                self.id2label = dict(enumerate(head["labels"]))
                self.label2id = {label: i for i, label in enumerate(head["labels"])}
            elif head["kind"] == "regression":
                self.id2label, self.label2id, self.problem_type = {0: "LABEL_0"}, {"LABEL_0": 0}, "regression"
        super().__post_init__(**kwargs)

    @staticmethod
    def _pretrained_encoder_config(encoder: Any) -> PreTrainedConfig:
        if encoder is None:
            return AutoConfig.for_model("bert")
        if isinstance(encoder, PreTrainedConfig):
            return encoder
        if not isinstance(encoder, dict) or "model_type" not in encoder:
            raise ValueError("encoder must be a transformers config or its dict with 'model_type' for 'pretrained'")
        settings = {key: value for key, value in encoder.items() if key not in ("model_type", "transformers_version")}
        return AutoConfig.for_model(encoder["model_type"], **settings)

    @staticmethod
    def _bilstm_settings(encoder: Any) -> dict[str, Any]:
        if isinstance(encoder, PreTrainedConfig) or not isinstance(encoder, dict | None):
            raise ValueError(f"encoder must be a dict of BiLSTM settings for 'bilstm', got {type(encoder).__name__}")
        unknown = sorted(set(encoder or {}) - set(BILSTM_DEFAULTS))
        if unknown:
            raise ValueError(f"encoder: unknown BiLSTM settings {unknown} (known: {', '.join(BILSTM_DEFAULTS)})")
        return {**BILSTM_DEFAULTS, **(encoder or {})}

    @property
    def task_names(self) -> list[str]:
        """The heads' names, in the order of `heads`."""
        return [head["name"] for head in self.heads]

    def head(self, name: str) -> dict[str, Any]:
        """The settings of head `name`, or a ValueError listing the names."""
        for head in self.heads:
            if head["name"] == name:
                return head
        raise ValueError(f"unknown task {name!r}; this model's tasks: {', '.join(self.task_names) or '(none)'}")

    @property
    def encoder_hidden_size(self) -> int:
        """Width of a token state of the encoder (both directions of the BiLSTM)."""
        if self.encoder_type == "bilstm":
            return 2 * self.encoder["hidden_size"]
        return self.encoder.hidden_size

    @property
    def head_dropout(self) -> float:
        """The dropout before the heads (`classifier_dropout`, else the encoder's)."""
        if self.classifier_dropout is not None:
            return self.classifier_dropout
        if self.encoder_type == "bilstm":
            return self.encoder["dropout"]
        return getattr(self.encoder, "classifier_dropout", None) or getattr(self.encoder, "hidden_dropout_prob", 0.1)
