"""The stage command lines: one module per `vifi <stage>`, named like the stage and its workflow rule.

A stage module holds only what a command line needs (its argparse parser, turning the parsed arguments into
library calls, exit codes and error messages), so the library under `vifi` can be called from Python with
typed arguments and never imports argparse. Imports go one way: stages import the library, never the reverse.
"""
