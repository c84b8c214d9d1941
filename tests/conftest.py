"""Loaded for every test below `tests/`; in pytest's default import mode that also puts this folder on
`sys.path`, so helpers shared across test folders (e.g. `process_scan`) live here once."""


def _hypothesis_profiles() -> None:
    """Property tests draw the same examples on every run (a red CI must mean a change broke something, not
    that a new random draw found an old edge). `SKYCTL_HYPOTHESIS=explore` draws fresh ones to hunt bugs."""
    import os

    from hypothesis import settings

    settings.register_profile("repo", derandomize=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("SKYCTL_HYPOTHESIS", "repo"))


_hypothesis_profiles()
