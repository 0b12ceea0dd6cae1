"""One package per published dataset: its in-memory loader and, where it has one, its stream."""
