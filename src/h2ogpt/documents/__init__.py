"""Document QA: loaders -> chunking -> embeddings -> store (Chroma | FAISS) -> retrieval."""
