"""File formats read and written whatever the source: delimited text, CSV streams, TFRecord."""
