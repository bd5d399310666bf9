"""MIS data: the normalised roster an extractor uploads, its parsers and its validation."""
