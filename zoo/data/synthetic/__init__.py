"""Generated datasets with a known truth: task correlation, funnels, position bias."""
