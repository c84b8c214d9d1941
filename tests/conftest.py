"""Loaded for every test below `tests/`; in pytest's default import mode that also puts this folder on
`sys.path`, so helpers shared across test folders (e.g. `process_scan`) live here once."""
