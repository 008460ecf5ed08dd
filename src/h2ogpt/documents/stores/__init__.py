"""Vector stores behind one interface, :class:`~h2ogpt.documents.stores.base.VectorStore`:
Chroma (local or a server) and FAISS built in (``builtin``), more as plug-ins."""
