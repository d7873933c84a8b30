"""Summaries of conversation history that run in process, without a model."""
