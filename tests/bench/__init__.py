"""Tests of the benchmarks' own scoring (bench/)."""
