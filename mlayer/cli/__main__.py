"""`python -m mlayer.cli`: the same as the `mlayer` console script."""

from mlayer.cli import main

main()
