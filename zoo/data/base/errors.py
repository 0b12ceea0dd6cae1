class DataError(ValueError):
    """Input data is missing or malformed. The message names the file and the problem."""
