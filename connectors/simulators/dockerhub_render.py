"""JSON bodies of the Docker Hub simulator, shaped like https://docs.docker.com/reference/api/hub/latest/.

Schemas ``org_member``, ``group_member``, ``invite``, ``org_group``, ``RepositoryGroup``, ``orgAccessToken``
(``hub-api-latest.yaml`` and the org access token pages); repositories as ``GET /v2/namespaces/{ns}/repositories``
lists them. Roles are capitalised here (``Owner``), as Docker Hub answers.
"""

from __future__ import annotations

from typing import Any

from .dockerhub_org import AccessToken, DockerHubOrg, Invite, Repo, Team, User


class Render:
    """Bodies for one organization."""

    def __init__(self, org: DockerHubOrg):
        self.org = org

    def user(self, user: User, *, email: bool) -> dict[str, Any]:
        return {
            "id": user.id,
            "company": user.company,
            "date_joined": user.date_joined,
            "full_name": user.full_name,
            "gravatar_email": "",
            "gravatar_url": "",
            "location": user.location,
            "profile_url": "",
            "type": "User",
            "username": user.username,
            "email": user.email if email else "",
        }

    def member(self, user: User, *, email: bool) -> dict[str, Any]:
        body = self.user(user, email=email) | {
            "role": self.org.members[user.username].capitalize(),
            "groups": self.org.member_teams(user.username),
            "is_guest": user.is_guest,
            "primary_email": user.email if email else "",
        }
        if user.last_logged_in_at or user.last_seen_at:  # insights-only fields
            body |= {"last_logged_in_at": user.last_logged_in_at, "last_seen_at": user.last_seen_at}
        return body

    def invitee(self, invite: Invite) -> dict[str, Any]:
        email = "@" in invite.invitee
        return {
            "id": "",
            "username": "" if email else invite.invitee,
            "email": invite.invitee if email else "",
            "full_name": "",
            "type": "User",
            "role": "Invitee",
            "groups": [invite.team] if invite.team else [],
            "is_guest": False,
        }

    def invite(self, invite: Invite) -> dict[str, Any]:
        return {
            "id": invite.id,
            "inviter_username": invite.inviter,
            "invitee": invite.invitee,
            "org": self.org.name,
            "team": invite.team or "",
            "role": invite.role,
            "created_at": invite.created_at,
        }

    def team(self, team: Team) -> dict[str, Any]:
        return {
            "id": team.id,
            "uuid": team.uuid,
            "name": team.name,
            "description": team.description,
            "member_count": len(team.members),
        }

    def repo(self, repo: Repo) -> dict[str, Any]:
        return {
            "name": repo.name,
            "namespace": self.org.name,
            "repository_type": "image",
            "status": 1,
            "status_description": "active",
            "description": repo.description,
            "is_private": repo.is_private,
            "star_count": 0,
            "pull_count": 1000 + len(repo.name) * 37,
            "last_updated": repo.date_registered,
            "last_modified": repo.date_registered,
            "date_registered": repo.date_registered,
            "affiliation": "",
            "media_types": ["application/vnd.oci.image.index.v1+json"],
            "content_types": ["image"],
            "categories": [],
            "storage_size": 0,
        }

    def repo_group(self, team_id: int, permission: str) -> dict[str, Any]:
        team = self.org.team_by_id(team_id)
        return {"group_id": team_id, "group_name": team.name if team else "", "permission": permission}

    def access_token(self, token: AccessToken, *, resources: bool) -> dict[str, Any]:
        body = {
            "id": token.id,
            "label": token.label,
            "created_by": token.created_by,
            "is_active": token.is_active,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
        }
        if resources:
            body["description"] = token.description
            body["resources"] = [{"type": r.type, "path": r.path, "scopes": list(r.scopes)} for r in token.resources]
        return body
