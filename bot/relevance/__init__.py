"""Relevance: which topics and which cities a news item is about, and why.

Public API: ``load_classifier``, ``Classifier``, ``Gazetteer``, ``City``, ``classify_stream``,
and the topic registry ``load_topics`` / ``TopicCatalog`` / ``TopicInfo`` / ``ALL_TOPICS``.
See docs/relevance.md for the rules and the measured precision/recall.
"""

from bot.relevance.classify import Classifier, classify_stream, load_classifier
from bot.relevance.gazetteer import City, Gazetteer
from bot.relevance.topics import ALL_TOPICS, TopicCatalog, TopicInfo, load_topics

__all__ = [
    "ALL_TOPICS",
    "City",
    "Classifier",
    "Gazetteer",
    "TopicCatalog",
    "TopicInfo",
    "classify_stream",
    "load_classifier",
    "load_topics",
]
