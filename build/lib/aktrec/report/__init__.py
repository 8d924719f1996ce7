"""Reports for people: validation pages (KFP HTML/Markdown artifacts) and the run report."""
