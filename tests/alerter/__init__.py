"""Tests of the alerter package."""
