"""The options of document QA, declared once (Settings inherits them as flags)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from h2ogpt.plugins import PluginName

NO_DOCUMENTS = "LLM"  # the --langchain_mode / collection value meaning: chat without documents


class DocumentOptions(BaseModel):
    """Collections, embeddings, chunking and retrieval."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    hf_embedding_model: str = Field(
        "",
        description="Local sentence-transformers model folder for embeddings. Empty: the embedded "
        "all-MiniLM-L6-v2.",
    )
    langchain_mode: str = Field(
        "UserData",
        description="Default document collection: UserData (shared, filled from --user_path), MyData "
        "(per user), a collection you created, or LLM (no documents).",
    )
    user_path: str = Field(
        "", description="Folder ingested into the UserData collection at start (and by make_db)."
    )
    db_type: Annotated[str, PluginName("vector_stores")] = Field(
        "chroma", description="Vector store for collections: chroma, faiss or a plug-in's store."
    )
    chroma_url: str = Field(
        "", description="A Chroma server (http://host:8000) instead of the local persistent Chroma."
    )
    chunk_size: int = Field(512, ge=16, description="Chunk size in tokens when documents are split.")
    chunk_overlap: int = Field(64, ge=0, description="Tokens shared by neighbouring chunks.")
    top_k_docs: int = Field(10, ge=1, description="Chunks retrieved for a question.")
    cross_encoder_model: str = Field(
        "", description="Local cross-encoder folder to rerank retrieved chunks. Empty: no reranking."
    )
