"""What every dataset shares: the in-memory and streamed dataset types, errors, data folders."""
