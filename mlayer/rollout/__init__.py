"""Safe model rollouts: a share of an alias's traffic on the new version, judged per version.

`plan` (steps from a strategy), `stats` (PSI and the noise bounds), `gates` (the judgement),
`state` (the state file in the artifact bucket) are pure; the driving is elsewhere.
"""
