"""The tabs of a challenge's page, which the apps serving its tabs all show."""

from __future__ import annotations

# "leaderboard", "forum" and "submissions" are served by their own apps under the same URL
# prefix (config/urls.py includes them before this app's catch-all tab URL).
TABS = ("overview", "rules", "data", "phases", "leaderboard", "forum", "submissions")
