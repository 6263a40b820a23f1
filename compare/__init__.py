"""Where the two backends meet: the cross-check, the figures and the command line."""
