"""Problem families: one module per family with its spec(s) and vectorised ``build``."""
