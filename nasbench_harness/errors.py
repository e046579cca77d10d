"""User-facing errors: the CLI prints these as one clear message instead of a traceback."""


class HarnessError(Exception):
    """A problem the user can fix (bad input, missing data); shown without a traceback."""


class ConfigError(HarnessError):
    """A suite or option is invalid: the message names the file, key, expectation and fix."""


class DataError(HarnessError):
    """A dataset or benchmark file is missing, corrupt or in the wrong format."""


class SpaceError(HarnessError):
    """An architecture, genotype or α array does not fit the search space."""
