"""Locust: reviewers working through their own items on the review page, the way the page's buttons post.

Each user takes one reviewer of the plan that tests/reliability/load_setup.py wrote (PIPEACCESS_LOAD_PLAN, a
JSON file): their session cookie, the campaign and the items they own. A user loads the review page (which
carries the CSRF token for htmx), then mostly decides (approve, revoke, downgrade, each with a justification
and the version it saw, as an htmx POST), sometimes undoes one of its decisions, reloads the page, or sends a
revoke without a justification, which the app must refuse (400) without recording anything.

Every response is counted by request name, with its time, and written to PIPEACCESS_LOAD_RESULTS (JSON) when
locust quits, after the last user stopped: the --csv files are rewritten once a second and may miss the final
responses, which test_load.py compares one for one with the database (successful "decide *" responses against
Decision rows, "undo" against undo rows). Run by that test; by hand:
    PIPEACCESS_LOAD_PLAN=plan.json PIPEACCESS_LOAD_RESULTS=results.json \
        locust -f tests/reliability/locustfile.py --headless -u 50 -r 10 -t 3m --host http://127.0.0.1:8000 \
        --csv var/load
"""

import itertools
import json
import os
import random
import re

from locust import HttpUser, between, events, task

with open(os.environ["PIPEACCESS_LOAD_PLAN"]) as plan_file:
    PLAN = json.load(plan_file)
# One reviewer per user, in spawn order (all users live in this one process).
_REVIEWERS = itertools.cycle(PLAN["reviewers"])
_CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')
# name -> {"ok": n, "failed": n, "ms": [response times], "errors": [first few failure messages]}
RESULTS: dict[str, dict] = {}
JUSTIFICATIONS = {
    "approve": "still needed for the release train",
    "revoke": "left the team last quarter",
    "downgrade": "only reads the repository now",
}


@events.request.add_listener
def _count(name, response_time, exception, **kwargs) -> None:
    entry = RESULTS.setdefault(name, {"ok": 0, "failed": 0, "ms": [], "errors": []})
    entry["ms"].append(response_time)
    if exception is None:
        entry["ok"] += 1
        return
    entry["failed"] += 1
    if len(entry["errors"]) < 20:
        entry["errors"].append(str(exception))


@events.quit.add_listener
def _write_results(**kwargs) -> None:
    with open(os.environ["PIPEACCESS_LOAD_RESULTS"], "w") as out:
        json.dump(RESULTS, out)


class Reviewer(HttpUser):
    # A brisk reviewer: one click every one to four seconds.
    wait_time = between(1.0, 4.0)

    def on_start(self) -> None:
        me = next(_REVIEWERS)
        self.campaign = PLAN["campaign"]
        self.client.cookies.set(PLAN["session_cookie"], me["session"])
        self.versions = {item["pk"]: item["version"] for item in me["items"]}
        self.pending = list(self.versions)
        random.shuffle(self.pending)
        self.decided: list[int] = []
        self.csrf = ""
        self.load_page()

    def _htmx(self) -> dict:
        return {"HX-Request": "true", "X-CSRFToken": self.csrf, "Referer": self.host + self._page_url()}

    def _page_url(self) -> str:
        return f"/reviews/campaigns/{self.campaign}/"

    def _item_url(self, pk: int, action: str) -> str:
        return f"/reviews/campaigns/{self.campaign}/items/{pk}/{action}/"

    @task(1)
    def load_page(self) -> None:
        with self.client.get(self._page_url(), name="review page", catch_response=True) as response:
            token = _CSRF.search(response.text)
            if response.status_code != 200 or token is None:
                response.failure(f"review page: {response.status_code}")
                return
            self.csrf = token.group(1)

    @task(10)
    def decide(self) -> None:
        if not self.pending:
            self.undo()
            return
        pk = self.pending.pop()
        decision = random.choices(["approve", "revoke", "downgrade"], weights=[6, 3, 2])[0]  # noqa: S311
        data = {"decision": decision, "justification": JUSTIFICATIONS[decision], "version": self.versions[pk]}
        if decision == "downgrade":
            data["level"] = "read"
        url = self._item_url(pk, "decide")
        with self.client.post(url, data, headers=self._htmx(), name=f"decide {decision}", catch_response=True) as r:
            if r.status_code != 200 or "HX-Trigger" not in r.headers:
                r.failure(f"decide {decision}: {r.status_code} {r.text[:200]}")
                self.pending.append(pk)
                return
        self.versions[pk] += 1
        self.decided.append(pk)

    @task(2)
    def undo(self) -> None:
        if not self.decided:
            return
        pk = self.decided.pop(random.randrange(len(self.decided)))  # noqa: S311
        with self.client.post(self._item_url(pk, "undo"), headers=self._htmx(), name="undo", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"undo: {r.status_code} {r.text[:200]}")
                self.decided.append(pk)
                return
        self.versions[pk] += 1
        self.pending.append(pk)

    @task(1)
    def revoke_without_justification(self) -> None:
        """Deliberate: the app refuses it (400) and records nothing; anything else is a failure."""
        if not self.pending:
            return
        pk = self.pending[0]
        data = {"decision": "revoke", "justification": "", "version": self.versions[pk]}
        url = self._item_url(pk, "decide")
        with self.client.post(url, data, headers=self._htmx(), name="refused revoke", catch_response=True) as r:
            if r.status_code == 400:
                r.success()
            else:
                r.failure(f"a revoke without justification answered {r.status_code}")
