"""Review campaigns land here with the campaigns issue."""
