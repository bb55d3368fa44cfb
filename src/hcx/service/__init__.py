"""The trio shell around the engine: sequencer, group-commit writer, release stage."""
