"""The explorer: a static page that computes LeNet-5 and its deconvnet itself (docs/explorer.md)."""
