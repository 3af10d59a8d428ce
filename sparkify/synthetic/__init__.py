"""Synthetic Sparkify data: Million-Song-Dataset-like song files and eventsim-like event logs.

Pure Python and deterministic by seed. Modules, from the bottom up: `names` (word lists),
`seeding`, `songs` (catalog), `users`, `plans` (who is online when), `plays` (what gets
played), `events` (page flows into event files), `world`, then the entry points
`generate` and `drip`.
"""

from sparkify.synthetic.drip import drip
from sparkify.synthetic.generate import DEFAULT_START, GenerateSummary, generate_dataset

__all__ = ["DEFAULT_START", "GenerateSummary", "drip", "generate_dataset"]
