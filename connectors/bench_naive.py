"""The scale bench's naive baseline: the inventory script a user would write against the GitHub REST API.

Sequential, default page size (30), and effective collaborators of every repository with `affiliation=all`
(which lists every member the base permission reaches, on every repository): members, teams, each team's
members and repositories, then each repository's collaborators. It talks only to the bench's local simulator,
through the loopback session the bench hands it (bench.Simulator.session).

A full naive run of a large org takes hours even without rate limits, so it can run on a sample: the org-wide
lists in full, then the first `sample` teams and repositories; the per-team and per-repository parts are
extrapolated linearly to the whole org (requests and wall time alike), and the report says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 30  # GitHub's default per_page


@dataclass
class NaivePart:
    requests: int = 0
    seconds: float = 0.0
    count: int = 0  # teams or repositories read

    def scaled(self, total: int) -> tuple[float, float]:
        """(requests, seconds) for TOTAL items at this part's average per item."""
        if not self.count:
            return 0.0, 0.0
        return self.requests * total / self.count, self.seconds * total / self.count


class NaiveScript:
    """The script, over a requests session (bench.Simulator's loopback one); counts requests and statuses."""

    def __init__(self, session: Any, base_url: str, token: str, org: str):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
        self.org = org
        self.requests = 0
        self.statuses: dict[str, int] = {}

    def pages(self, path: str, params: dict | None = None) -> list[dict]:
        """Every item of a list, page by page (?page=N until a short page), as such scripts do."""
        items: list[dict] = []
        page = 1
        while True:
            response = self.session.get(
                f"{self.base_url}{path}",
                params={**(params or {}), "per_page": PAGE_SIZE, "page": page},
                headers=self.headers,
                timeout=60,
            )
            self.requests += 1
            self.statuses[str(response.status_code)] = self.statuses.get(str(response.status_code), 0) + 1
            response.raise_for_status()
            chunk = response.json()
            items.extend(chunk)
            if len(chunk) < PAGE_SIZE:
                return items
            page += 1


def run(session: Any, base_url: str, token: str, org: str, *, teams: int, repos: int, sample: int) -> dict:
    """Run the script (sampled to SAMPLE teams and repositories if smaller) and extrapolate to TEAMS and REPOS."""
    script = NaiveScript(session, base_url, token, org)
    started = time.perf_counter()
    members = script.pages(f"/orgs/{org}/members")
    team_list = script.pages(f"/orgs/{org}/teams")
    repo_list = script.pages(f"/orgs/{org}/repos", {"type": "all"})
    org_wide = NaivePart(script.requests, time.perf_counter() - started)

    team_part = NaivePart()
    for team in team_list[:sample]:
        before, at = script.requests, time.perf_counter()
        script.pages(f"/orgs/{org}/teams/{team['slug']}/members")
        script.pages(f"/orgs/{org}/teams/{team['slug']}/repos")
        team_part.requests += script.requests - before
        team_part.seconds += time.perf_counter() - at
        team_part.count += 1

    repo_part = NaivePart()
    for repo in repo_list[:sample]:
        before, at = script.requests, time.perf_counter()
        script.pages(f"/repos/{repo['full_name']}/collaborators", {"affiliation": "all"})
        repo_part.requests += script.requests - before
        repo_part.seconds += time.perf_counter() - at
        repo_part.count += 1

    team_requests, team_seconds = team_part.scaled(teams)
    repo_requests, repo_seconds = repo_part.scaled(repos)
    sampled = team_part.count < teams or repo_part.count < repos
    return {
        "members_listed": len(members),
        "sampled": sampled,
        "teams_read": team_part.count,
        "repos_read": repo_part.count,
        "requests_made": script.requests,
        "statuses": script.statuses,
        "wall_seconds_measured": time.perf_counter() - started,
        # Extrapolated to the whole org (equal to the measured figures when nothing was sampled).
        "requests": round(org_wide.requests + team_requests + repo_requests),
        "wall_seconds": org_wide.seconds + team_seconds + repo_seconds,
    }
