"""Pupilpost event contracts: versioned Pydantic models, one module per topic family."""
from schemas.envelope import Envelope, TraceContext, UnknownEvent, decode, encode
from schemas.registry import TOPICS, Topic, model_for, topic_of

__all__ = ["Envelope", "TraceContext", "UnknownEvent", "decode", "encode", "TOPICS", "Topic",
           "model_for", "topic_of"]
