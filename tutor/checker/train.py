"""Training the learned checker, reproducibly: the same sources and labels, the same weights.

Pairs: the synthetic ones from the knowledge base's sentences (pairs.py), plus the
training splits of the labelled sets that ship with the package (tutor/checker/data:
clean claims and real drafts, each labelled by hand; their held-out splits never enter
training). Every random choice is seeded, torch runs deterministic kernels on a fixed
number of threads, and the result is named by a digest of the pairs and the recipe, so a
change to any source retrains and an unchanged one reuses the cached weights.

    python -m tutor.checker.train     (the Makefile's set-up runs it; about 3 minutes here)
"""

import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from tutor.checker.labelled import labelled_files_text, training_pairs
from tutor.checker.model import (
    BATCH,
    MAX_TOKENS,
    TRAINED_LAYERS,
    Checker,
    digest_of,
    load_base,
    trainable,
)
from tutor.checker.pairs import Pair, batches, source_sentences, synthetic_pairs


@dataclass(frozen=True)
class Recipe:
    epochs: int = 2
    learning_rate: float = 1e-4
    seed: int = 13
    threads: int = 2  # fixed: float sums, and so the weights, depend on the thread count
    labelled_weight: int = 3  # a hand-labelled pair counts as this many synthetic ones
    # Synthetic pairs drawn from all the sources': training time grows with the pairs, not
    # with the knowledge base (about 7 minutes on 2 cores for this many).
    synthetic_pairs: int = 3600


RECIPE = Recipe()


def all_pairs(source_texts: list[str], recipe: Recipe = RECIPE) -> list[Pair]:
    pairs = synthetic_pairs(source_sentences(source_texts), seed=recipe.seed)
    if len(pairs) > recipe.synthetic_pairs:
        pairs = random.Random(recipe.seed).sample(pairs, recipe.synthetic_pairs)
    return pairs + training_pairs() * recipe.labelled_weight


def weights_digest(source_texts: list[str], recipe: Recipe = RECIPE) -> str:
    """Names the weights by all that makes them: sources, labels, recipe and this code,
    with the sentence splitter the pairs are cut by. Cheap: it reads files, it does not
    build the pairs."""
    here = Path(__file__).parent
    code = [(here / n).read_text() for n in ("pairs.py", "labelled.py", "train.py", "../text.py")]
    return digest_of(source_texts, labelled_files_text(), asdict(recipe), code, TRAINED_LAYERS)


def train(pairs: list[Pair], recipe: Recipe = RECIPE, progress: bool = True) -> Checker:
    """Fine-tune the top layers and the head on `pairs`; deterministic for given inputs."""
    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        model, tokenizer = load_base()
        for name, parameter in model.named_parameters():
            parameter.requires_grad = trainable(name, TRAINED_LAYERS)
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate
        )
        positives = sum(p.supported for p in pairs)
        loss_fn = torch.nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor((len(pairs) - positives) / max(positives, 1))
        )
        rng = random.Random(recipe.seed)
        steps = recipe.epochs * -(-len(pairs) // BATCH)
        model.train()
        with tqdm(
            total=steps, disable=not progress, unit="batch", desc="training the checker"
        ) as bar:
            for _ in range(recipe.epochs):
                for batch in batches(pairs, BATCH, rng):
                    inputs = tokenizer(
                        [p.evidence for p in batch],
                        [p.claim for p in batch],
                        truncation=True,
                        max_length=MAX_TOKENS,
                        padding=True,
                        return_tensors="pt",
                    )
                    labels = torch.tensor([float(p.supported) for p in batch])
                    loss = loss_fn(model(**inputs).logits[:, 0], labels)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        return Checker(model, tokenizer)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)


def main() -> int:
    from tutor.checker import ensure_checker
    from tutor.settings import load_settings

    started = time.perf_counter()
    ensure_checker(load_settings().cache_dir)
    print(f"The checker is ready ({time.perf_counter() - started:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
