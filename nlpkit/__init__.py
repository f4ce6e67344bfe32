"""nlpkit: train, fine-tune and share NLP models on the Hugging Face stack."""

__version__ = "0.1.0"

from nlpkit.models import register_models  # noqa: E402

register_models()
