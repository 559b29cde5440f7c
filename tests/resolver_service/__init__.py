"""Tests of the resolver service core."""
