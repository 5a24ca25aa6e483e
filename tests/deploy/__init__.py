"""Tests for running logwarden for real: the demo, compose/, the Dockerfile and deploy/."""
