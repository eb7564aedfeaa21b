"""The knowledge base: source documents, their chunks, and the index that retrieves them."""
