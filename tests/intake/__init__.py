"""Tests of the submission intake."""
