"""Training the checker is reproducible: the same pairs give the same weights, and saved
weights load back to the same scores."""

import torch

from tutor.checker.model import Checker
from tutor.checker.pairs import Pair
from tutor.checker.train import Recipe, train

PAIRS = [
    Pair("int8 takes one byte per weight.", "int8 takes one byte per weight.", True, "identity"),
    Pair("int8 takes one byte per weight.", "int8 takes two bytes per weight.", False, "number"),
    Pair("GPTQ needs no retraining.", "GPTQ needs retraining.", False, "negation"),
    Pair("AWQ protects about 1% of channels.", "AWQ protects about 1% of channels.", True, "id"),
] * 5
QUICK = Recipe(epochs=1, threads=1)


def test_the_same_pairs_train_the_same_weights(tmp_path):
    first, again = train(PAIRS, QUICK, progress=False), train(PAIRS, QUICK, progress=False)
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), again.model.state_dict().items()
    ):
        assert torch.equal(a, b), name
    first.save(tmp_path / "checker.pt")
    loaded = Checker.load(tmp_path / "checker.pt")
    pairs = [(p.evidence, p.claim) for p in PAIRS[:4]]
    assert loaded.scores(pairs) == first.scores(pairs)


def test_scores_are_probabilities_one_per_pair():
    checker = train(PAIRS[:4], QUICK, progress=False)
    scores = checker.scores([(p.evidence, p.claim) for p in PAIRS])
    assert len(scores) == len(PAIRS) and all(0.0 <= s <= 1.0 for s in scores)
