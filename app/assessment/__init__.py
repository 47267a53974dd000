"""Assessment and statistics (考核): schemes, scores, rankings, frozen periods."""
