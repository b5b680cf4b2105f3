"""`charrnn tune`: a search over training recipes on Optuna (the `tune` extra), each trial a
`charrnn train` run whose budget is sized to the time left, pruned on its validation curve."""
