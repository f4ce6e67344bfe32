"""Task glue shared by the recipes of one task: metrics, collators, cards and the samples printed at the end."""
