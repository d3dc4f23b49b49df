"""linreg-tui's Textual dashboard. Renders engine events; no training math lives here."""
