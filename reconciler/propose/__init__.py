"""`propose`: rewrite a manifest so that a model declares a chosen run (reconciler.propose.edit)."""
