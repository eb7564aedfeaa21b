"""The learned checker: a cross-encoder that scores whether a source sentence backs a claim.

`ensure_checker` gives the trained checker, training it once (a few minutes, with a
progress bar) when the cache has none for the current sources, labels and recipe.
"""

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def source_texts() -> list[str]:
    """The packaged sources' chunk texts: what the synthetic pairs are made from."""
    from knowledge.documents import PACKAGED_SOURCES, chunk_document, load_documents

    documents, _ = load_documents([(PACKAGED_SOURCES, "curated")])
    return [chunk.text for doc in documents for chunk in chunk_document(doc)]


def checker_path(cache_dir: Path, digest: str) -> Path:
    return cache_dir / "checker" / f"checker-{digest}.pt"


def ensure_checker(cache_dir: Path, progress: bool = True):
    """The trained checker for the current sources and labels, trained here if need be."""
    from tutor.checker.model import Checker
    from tutor.checker.train import all_pairs, train, weights_digest

    texts = source_texts()
    path = checker_path(cache_dir, weights_digest(texts))
    if not path.is_file():
        log.info("training the checker once into %s", path)
        if progress:
            print("Training the answer checker (once, about 7 minutes)...", file=sys.stderr)
        train(all_pairs(texts), progress=progress).save(path)
        for stale in path.parent.glob("checker-*.pt"):  # made from older sources or code
            if stale != path:
                stale.unlink(missing_ok=True)
    return Checker.load(path)
