"""One module per `zoo` command, each with `add_parser(subparsers, common)` and `run(args)`.

A command may also define `check(args)`: usage errors it finds before
TensorFlow is imported.
"""
