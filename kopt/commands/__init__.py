"""One module per CLI command, each exposing ``main(argv)``."""
