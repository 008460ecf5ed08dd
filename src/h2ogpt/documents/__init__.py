"""Document QA: ``loaders/`` -> ``chunking`` -> ``embeddings`` -> ``stores/`` (Chroma | FAISS |
plug-ins) -> ``retrieval`` (BM25 + vector) -> ``qa`` (Query, Summarize, Extract) with ``citations``.

Faces and the pipeline use :class:`h2ogpt.documents.library.DocumentLibrary`.
"""
