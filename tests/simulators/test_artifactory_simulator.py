"""The Artifactory simulator behaves like the JFrog REST API where connectors can go wrong.

These tests talk to the simulator with ``requests`` directly: they test the simulator itself, not a connector.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import pytest
import requests

from connectors.simulators.artifactory import (
    ArtifactoryInstance,
    ArtifactorySimulator,
    Credential,
    add_arguments,
    build,
)
from connectors.simulators.artifactory_org import EPOCH, Section
from connectors.simulators.server import DISCONNECT, ERROR, SECONDARY_RATE_LIMIT
from tests.fakes import FakeTime

ADMIN = "cmVmdGtuOjAxOjE3adminSimulatorToken"
READER = "cmVmdGtuOjAxOjE3readerSimulatorToken"


def small_instance() -> ArtifactoryInstance:
    inst = ArtifactoryInstance()
    inst.add_user("admin", admin=True, last_logged_in=EPOCH)
    inst.add_user("ada")
    inst.add_user("bob", status="disabled")
    inst.add_user("carl lee")
    inst.add_group("readers", members=["ada", "bob"])
    inst.add_group("ops", admin_privileges=True, members=["carl lee"])
    inst.add_repository("libs-local", "local", "maven")
    inst.add_repository("npm-remote", "remote", "npm")
    inst.add_repository("npm-virtual", "virtual", "npm")
    inst.add_permission("Anything", ["ANY"], groups={"readers": ["read"]})
    inst.add_permission(
        "deploy libs",
        ["libs-local"],
        users={"ada": ["read", "write"]},
        build=Section(["artifactory-build-info"], groups={"ops": ["manage"]}),
    )
    inst.add_token("ada", token_id="t-ada", expiry=EPOCH + 3600, last_used=EPOCH - 5, owner="ada")
    inst.add_token("admin", "applied-permissions/admin", token_id="t-admin")
    return inst


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime(EPOCH)


@pytest.fixture
def sim(clock):
    tokens = {ADMIN: Credential("admin"), READER: Credential("ada", admin=False)}
    with ArtifactorySimulator(small_instance(), tokens=tokens, clock=clock.clock) as simulator:
        yield simulator


def client(token: str | None = ADMIN) -> requests.Session:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


# -- generation


def test_it_generates_the_same_instance_for_the_same_seed():
    first = ArtifactoryInstance.generate(seed=7, users=80, groups=10, repositories=40, permission_targets=15)
    again = ArtifactoryInstance.generate(seed=7, users=80, groups=10, repositories=40, permission_targets=15)
    other = ArtifactoryInstance.generate(seed=8, users=80, groups=10, repositories=40, permission_targets=15)
    assert first.facts() == again.facts()
    assert first.rest_plan() == again.rest_plan()
    assert first.facts().target_actions != other.facts().target_actions


def test_it_generates_a_large_instance_quickly_and_in_modest_memory():
    tracemalloc.start()
    began = time.perf_counter()
    inst = ArtifactoryInstance.generate(
        seed=3, users=3000, groups=200, repositories=1000, permission_targets=300, tokens=500
    )
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 3
    assert peak < 64 * 1024 * 1024
    facts = inst.facts()
    assert (len(facts.users), len(facts.groups), len(facts.repositories)) == (3000, 200, 1000)
    assert (len(facts.targets), len(facts.tokens)) == (300, 500)
    assert set(facts.repositories.values()) == {"local", "remote", "virtual", "federated", "distribution"}
    assert {status for _, _, status in facts.users.values()} == {"enabled", "disabled", "locked"}
    assert any(admin for admin, _ in facts.groups.values())
    assert {scope.split(":")[0] for _, scope in facts.tokens.values()} == {
        "applied-permissions/user",
        "applied-permissions/admin",
        "applied-permissions/groups",
    }
    assert {section for _, section, _, _, _ in facts.target_actions} == {"repo", "build"}
    assert "npm-virtual" not in facts.targets["Anything"]
    assert inst.rest_lower_bound() == 1 + 3 + 3000 + 1 + 200 + 1 + 300 + 1


def test_any_pseudo_repositories_expand_by_class_and_leave_virtual_out():
    inst = small_instance()
    inst.add_repository("docker-fed", "federated", "docker")
    inst.add_permission("locals", ["ANY LOCAL", "gone"])
    assert set(inst.reach("Anything")) == {"libs-local", "npm-remote", "docker-fed"}
    assert set(inst.reach("locals")) == {"libs-local", "docker-fed"}


def test_mutate_fraction_changes_about_the_requested_share_of_grants():
    inst = ArtifactoryInstance.generate(seed=1, users=400, groups=30, repositories=100, permission_targets=60)
    before = {grant[:3]: grant[3] for grant in inst.grants()}
    changes = inst.mutate_fraction(0.02, seed=2)
    after = {grant[:3]: grant[3] for grant in inst.grants()}
    differing = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert len(changes) == round(0.02 * len(before))
    assert len(differing) == len(changes)
    assert {change.kind for change in changes} == {"added", "removed", "changed"}


def test_removing_a_user_drops_it_everywhere_as_artifactory_does():
    inst = small_instance()
    inst.remove_user("ada")
    assert "ada" not in inst.groups["readers"].members
    assert "ada" not in inst.permissions["deploy libs"].sections["repo"].users
    assert "t-ada" not in inst.tokens and "t-ada" in inst.revoked_tokens


# -- shapes and pagination


def test_access_v2_lists_paginate_by_cursor_until_no_cursor_is_returned(clock):
    inst = ArtifactoryInstance.generate(seed=2, users=23, groups=3, repositories=3, permission_targets=2, tokens=0)
    with ArtifactorySimulator(inst, tokens={ADMIN: Credential("admin")}, clock=clock.clock, max_page_size=10) as sim:
        session, names, cursor, pages = client(), [], None, 0
        while True:
            params = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
            body = session.get(f"{sim.url}/access/api/v2/users", params=params).json()
            pages += 1
            names += [user["username"] for user in body["users"]]
            cursor = body.get("cursor")
            if not cursor:
                break
    assert pages == 3
    assert names == sorted(inst.users)
    assert set(body["users"][0]) == {"username", "uri", "realm", "status"}


def test_a_bad_limit_or_cursor_is_a_400_in_access_form(sim):
    session = client()
    for params in ({"limit": "0"}, {"limit": "x"}, {"cursor": "%%%"}):
        response = session.get(f"{sim.url}/access/api/v2/groups", params=params)
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "BAD_REQUEST"


def test_user_details_carry_admin_groups_and_last_login(sim):
    body = client().get(f"{sim.url}/artifactory/api/security/users/admin").json()
    assert (body["admin"], body["lastLoggedIn"], body["groups"]) == (True, "2023-11-14T22:13:20.000Z", [])
    ada = client().get(f"{sim.url}/artifactory/api/security/users/ada").json()
    assert ada["groups"] == ["readers"] and "lastLoggedIn" not in ada


def test_a_plus_in_a_security_path_reads_as_a_space(sim):
    response = client().get(f"{sim.url}/artifactory/api/security/users/carl+lee")
    assert response.status_code == 200 and response.json()["name"] == "carl lee"
    assert client().get(f"{sim.url}/artifactory/api/security/users/carl%20lee").status_code == 200


def test_group_details_have_admin_privileges_and_members(sim):
    body = client().get(f"{sim.url}/access/api/v2/groups/ops").json()
    assert (body["admin_privileges"], body["members"]) == (True, ["carl lee"])


def test_permission_targets_use_the_v2_shape_with_artifactorys_quirks(sim):
    listed = client().get(f"{sim.url}/artifactory/api/v2/security/permissions").json()
    assert [item["name"] for item in listed] == ["Anything", "deploy libs"]
    body = client().get(f"{sim.url}/artifactory/api/v2/security/permissions/deploy+libs").json()
    assert body["repo"] == {
        "include-patterns": ["**"],
        "exclude-patterns": [""],
        "repositories": ["libs-local"],
        "actions": {"users": {"ada": ["read", "write"]}},
    }
    assert body["build"]["actions"] == {"groups": {"ops": ["manage"]}}


def test_a_put_replaces_the_whole_target(sim):
    url = f"{sim.url}/artifactory/api/v2/security/permissions/deploy%20libs"
    body = client().get(url).json()
    del body["build"]
    body["repo"]["actions"]["users"]["ada"] = ["r", "n"]  # v1 letters are still understood
    assert client().put(url, json=body).status_code == 200
    target = sim.instance.permissions["deploy libs"]
    assert set(target.sections) == {"repo"}
    assert target.sections["repo"].users == {"ada": ["read", "annotate"]}
    assert target.sections["repo"].exclude_patterns == []


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body["repo"]["actions"]["users"].update({"nobody": ["read"]}),
        lambda body: body["repo"]["actions"]["users"].update({"ada": ["fly"]}),
        lambda body: body.update({"name": "other"}),
    ],
    ids=["unknown-user", "unknown-action", "renamed"],
)
def test_a_bad_put_is_refused_and_changes_nothing(sim, change):
    url = f"{sim.url}/artifactory/api/v2/security/permissions/deploy%20libs"
    body = client().get(url).json()
    change(body)
    response = client().put(url, json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["status"] == 400
    assert sim.instance.permissions["deploy libs"].sections["repo"].users == {"ada": ["read", "write"]}


def test_group_members_are_patched_and_bad_patches_refused(sim):
    url = f"{sim.url}/access/api/v2/groups/readers/members"
    assert client().patch(url, json={"remove": ["ada"]}).json() == {"members": ["bob"]}
    assert client().patch(url, json={}).status_code == 400
    assert client().patch(url, json={"add": ["bob"], "remove": ["bob"]}).status_code == 400
    assert client().patch(url, json={"remove": ["nobody"]}).status_code == 400
    assert client().patch(f"{sim.url}/access/api/v2/groups/none/members", json={"remove": ["bob"]}).status_code == 404


def test_tokens_are_listed_without_secrets_and_revoked_idempotently(sim):
    tokens = client().get(f"{sim.url}/access/api/v1/tokens").json()["tokens"]
    assert {t["token_id"] for t in tokens} == {"t-ada", "t-admin"}
    ada = next(t for t in tokens if t["token_id"] == "t-ada")
    assert set(ada) == {
        "token_id",
        "subject",
        "issued_at",
        "issuer",
        "refreshable",
        "scope",
        "expiry",
        "last_used",
        "owner",
    }
    filtered = client().get(f"{sim.url}/access/api/v1/tokens", params={"token_id": "t-admin"}).json()["tokens"]
    assert [t["token_id"] for t in filtered] == ["t-admin"]
    url = f"{sim.url}/access/api/v1/tokens/t-ada"
    assert [client().delete(url).status_code for _ in range(2)] == [200, 204]
    assert client().delete(f"{sim.url}/access/api/v1/tokens/never").status_code == 404


def test_a_non_admin_token_is_forbidden_security_lists_and_sees_its_own_tokens(sim):
    reader = client(READER)
    forbidden = reader.get(f"{sim.url}/access/api/v2/users")
    assert forbidden.status_code == 403 and forbidden.json()["errors"][0]["code"] == "FORBIDDEN"
    assert reader.get(f"{sim.url}/artifactory/api/v2/security/permissions").status_code == 403
    assert [t["token_id"] for t in reader.get(f"{sim.url}/access/api/v1/tokens").json()["tokens"]] == ["t-ada"]
    assert reader.delete(f"{sim.url}/access/api/v1/tokens/t-admin").status_code == 403


def test_a_bad_or_missing_token_gets_401_in_each_apis_form(sim):
    art = client("nope").get(f"{sim.url}/artifactory/api/repositories")
    access = client(None).get(f"{sim.url}/access/api/v1/tokens")
    assert (art.status_code, art.json()) == (401, {"errors": [{"status": 401, "message": "Bad credentials"}]})
    assert (access.status_code, access.json()["errors"][0]["code"]) == (401, "UNAUTHORIZED")


def test_repositories_are_one_array_with_their_class(sim):
    body = client().get(f"{sim.url}/artifactory/api/repositories").json()
    assert {(r["key"], r["type"]) for r in body} == {
        ("libs-local", "LOCAL"),
        ("npm-remote", "REMOTE"),
        ("npm-virtual", "VIRTUAL"),
    }
    assert "etag" not in {name.lower() for name in client().get(f"{sim.url}/artifactory/api/repositories").headers}


# -- limits, faults, hooks, control


def test_the_optional_rate_limit_answers_429_with_retry_after(clock):
    with ArtifactorySimulator(
        small_instance(), tokens={ADMIN: Credential("admin")}, clock=clock.clock, rate_limit=2
    ) as sim:
        statuses = [client().get(f"{sim.url}/artifactory/api/repositories") for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[-1].headers["Retry-After"] == "60"
        clock.now += 60
        assert client().get(f"{sim.url}/artifactory/api/repositories").status_code == 200


def test_faults_look_like_artifactory_errors(sim):
    sim.add_fault(ERROR, "/access/api/v2/groups/*", status=503)
    sim.add_fault(SECONDARY_RATE_LIMIT, "/artifactory/api/repositories", seconds=7)
    unavailable = client().get(f"{sim.url}/access/api/v2/groups/ops")
    assert (unavailable.status_code, unavailable.json()["errors"][0]["code"]) == (503, "SERVICE_UNAVAILABLE")
    limited = client().get(f"{sim.url}/artifactory/api/repositories")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert client().get(f"{sim.url}/access/api/v2/groups/ops").status_code == 200


def test_a_disconnect_fault_drops_the_connection(sim):
    sim.add_fault(DISCONNECT, "/access/api/v1/tokens")
    with pytest.raises(requests.ConnectionError):
        client().get(f"{sim.url}/access/api/v1/tokens")


def test_a_hook_changes_the_instance_right_after_the_nth_matching_request(sim):
    sim.after("GET", "/access/api/v2/groups/*", lambda inst: inst.remove_member("readers", "bob"), on=2)
    url = f"{sim.url}/access/api/v2/groups/readers"
    assert [client().get(url).json()["members"] for _ in range(3)] == [["ada", "bob"], ["ada", "bob"], ["ada"]]


def test_the_instance_can_be_mutated_and_inspected_over_http(sim):
    action = {"action": "remove_member", "args": {"group": "readers", "user": "ada"}}
    assert requests.post(f"{sim.url}/_simulator/mutate", json=action, timeout=5).status_code == 200
    assert sim.instance.groups["readers"].members == ["bob"]
    assert requests.post(f"{sim.url}/_simulator/mutate", json={"action": "nope"}, timeout=5).status_code == 400
    info = requests.get(f"{sim.url}/_simulator/info", timeout=5).json()
    assert info["counts"]["users"] == 4
    assert info["rest_lower_bound"] == 1 + 1 + 4 + 1 + 2 + 1 + 2 + 1
    changed = requests.post(f"{sim.url}/_simulator/mutate", json={"fraction": 0.5, "seed": 1}, timeout=5).json()
    assert changed["count"] >= 1


def test_following_the_rest_plan_costs_exactly_the_lower_bound(clock):
    inst = ArtifactoryInstance.generate(seed=9, users=12, groups=4, repositories=5, permission_targets=3, tokens=2)
    with ArtifactorySimulator(inst, tokens={ADMIN: Credential("admin")}, clock=clock.clock, max_page_size=5) as sim:
        session = client()
        session.get(f"{sim.url}/artifactory/api/repositories")
        for kind, field in (("users", "username"), ("groups", "group_name")):
            cursor, names = None, []
            while True:
                body = session.get(
                    f"{sim.url}/access/api/v2/{kind}", params={"cursor": cursor} if cursor else {}
                ).json()
                names += [item[field] for item in body[kind]]
                cursor = body.get("cursor")
                if not cursor:
                    break
            detail = "/artifactory/api/security/users" if kind == "users" else "/access/api/v2/groups"
            for name in names:
                assert session.get(f"{sim.url}{detail}/{name}").status_code == 200
        for target in session.get(f"{sim.url}/artifactory/api/v2/security/permissions").json():
            assert session.get(target["uri"]).status_code == 200
        session.get(f"{sim.url}/access/api/v1/tokens")
        assert sim.stats()["total"] == sim.rest_lower_bound()


def test_it_builds_from_command_line_arguments(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_arguments(parser)
    token_file = tmp_path / "token"
    args = parser.parse_args(
        ["--users", "12", "--tokens", "3", "--max-page-size", "5", "--token-file", str(token_file)]
    )
    simulator = build(args)
    with simulator:
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert client(token).get(f"{simulator.url}/artifactory/api/system/version").json()["version"] == "7.104.5"
        assert simulator.max_page_size == 5
    assert simulator.describe()[0].startswith("Artifactory 7.104.5: 12 users")
