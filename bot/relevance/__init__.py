"""Relevance: which topics and which cities a news item is about, and why.

Public API: ``load_classifier``, ``Classifier``, ``Gazetteer``, ``City``, ``classify_stream``.
See docs/relevance.md for the rules and the measured precision/recall.
"""

from bot.relevance.classify import Classifier, classify_stream, load_classifier
from bot.relevance.gazetteer import City, Gazetteer

__all__ = ["City", "Classifier", "Gazetteer", "classify_stream", "load_classifier"]
