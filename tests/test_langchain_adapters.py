"""HoidapEmbeddings and HoidapRetriever behave as LangChain components over the real seed index."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from assistant.answering.langchain_adapters import HoidapEmbeddings, HoidapRetriever
from index.errors import IndexEmpty

DE_AN_06 = "001_c7e9e54a34adfa75.txt"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embeddings(seed_assistant) -> HoidapEmbeddings:
    return HoidapEmbeddings(seed_assistant.embedder)


def test_embeddings_are_384_dim_unit_vectors(embeddings) -> None:
    assert isinstance(embeddings, Embeddings)
    docs = embeddings.embed_documents(["Đề án 06 về dữ liệu dân cư", "Kinh tế số tăng trưởng 28%"])
    query = embeddings.embed_query("Đề án 06 về dữ liệu dân cư")
    assert len(docs) == 2 and all(len(v) == 384 for v in docs) and len(query) == 384
    assert all(isinstance(x, float) for x in query)
    assert np.allclose(np.linalg.norm(np.array(docs), axis=1), 1.0, atol=1e-4)
    assert abs(np.linalg.norm(query) - 1.0) < 1e-4
    # Queries and passages are encoded differently (E5 prefixes), yet the match ranks first.
    assert not np.allclose(query, docs[0], atol=1e-3)
    assert np.dot(query, docs[0]) > np.dot(query, docs[1])
    assert embeddings.embed_documents([]) == []


def test_embeddings_work_in_a_langchain_vector_store(embeddings) -> None:
    store = InMemoryVectorStore.from_texts(
        [
            "Kinh tế số Việt Nam năm 2022 tăng trưởng 28%.",
            "Bộ Xây dựng chủ trì quy hoạch phát triển đô thị thông minh.",
            "Nam Định phấn đấu cơ bản hoàn thành chuyển đổi số vào năm 2030.",
        ],
        embeddings,
    )
    (hit,) = store.similarity_search("Bộ nào chủ trì quy hoạch đô thị thông minh?", k=1)
    assert hit.page_content.startswith("Bộ Xây dựng")


def test_retriever_returns_documents_with_citation_metadata(seed_assistant) -> None:
    retriever = HoidapRetriever(retriever=seed_assistant.retriever, k=4)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("Đề án 06")
    assert len(docs) == 4 and all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["source"] == DE_AN_06
    assert {"source", "title", "date", "chunk_id", "score"} <= set(docs[0].metadata)
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    chunk = seed_assistant.retriever.chunk(docs[0].metadata["chunk_id"])
    assert docs[0].page_content == chunk.text and docs[0].metadata["title"] == chunk.title
    assert docs[0].metadata["date"] == "2023-05-09"


def test_retriever_matches_the_assistant_ranking_and_composes(
    seed_settings, seed_assistant
) -> None:
    question = "Theo báo cáo của Google, kinh tế số Việt Nam năm 2022 tăng trưởng bao nhiêu?"
    retriever = HoidapRetriever.from_settings(seed_settings, k=3)
    chain = retriever | RunnableLambda(lambda docs: [d.metadata["chunk_id"] for d in docs])
    expected = [s.chunk.chunk_id for s in seed_assistant.retriever.retrieve(question, k=3)]
    assert chain.invoke(question) == expected
    assert retriever.batch([question, "Đề án 06"])[1][0].metadata["source"] == DE_AN_06


def test_retriever_on_an_empty_index_says_what_to_do(fake_settings) -> None:
    with pytest.raises(IndexEmpty) as err:
        HoidapRetriever.from_settings(fake_settings)
    assert "hoidap index" in err.value.message_en
