"""The shipped catalog data (YAML). A package only so that its files install with `hub`."""
