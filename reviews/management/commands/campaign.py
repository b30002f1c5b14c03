"""campaign (CONTRACT.md): templates from YAML, launch, status, close."""

import json
import time

import yaml
from django.core.management.base import BaseCommand, CommandError

from reviews import campaigns
from reviews.choices import CampaignState
from reviews.config import ConfigError
from reviews.models import Campaign, CampaignTemplate
from reviews.tasks.campaigns import populate_campaign


class Command(BaseCommand):
    help = "Review campaigns: templates, launch, status, close."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        template = sub.add_parser("template", help="campaign templates")
        tsub = template.add_subparsers(dest="template_action", required=True)
        apply = tsub.add_parser("apply", help="create or update templates from a YAML file")
        apply.add_argument("file")
        tlist = tsub.add_parser("list")
        tlist.add_argument("--format", choices=["text", "json"], default="text")
        tpreview = tsub.add_parser("preview", help="items and reviewers a launch would produce now")
        tpreview.add_argument("name")
        tpreview.add_argument("--format", choices=["text", "json"], default="text")
        for name in ("launch", "create"):
            launch = sub.add_parser(name, help="launch a campaign from a template; prints its id")
            if name == "create":
                launch.add_argument("--template", required=True)
            else:
                launch.add_argument("template")
            launch.add_argument("--wait", action="store_true", help="freeze the items before returning")
        status = sub.add_parser("status")
        status.add_argument("id", type=int)
        status.add_argument("--format", choices=["text", "json"], default="text")
        close = sub.add_parser("close")
        close.add_argument("id", type=int)
        sub.add_parser("list").add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    # --- templates ------------------------------------------------------------

    def do_template(self, *, template_action, **options):
        getattr(self, f"do_template_{template_action}")(**options)

    def do_template_apply(self, *, file, **_):
        try:
            with open(file, encoding="utf-8") as fh:
                docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise CommandError(f"{file} is not valid YAML: {exc}") from None
        flat = []
        for doc in docs:
            if isinstance(doc, dict) and "templates" in doc:
                doc = doc["templates"]
            flat.extend(doc if isinstance(doc, list) else [doc])
        try:
            saved = campaigns.apply_templates(flat)
        except ConfigError as exc:
            raise CommandError(f"{file}: {exc}") from None
        for template in saved:
            nxt = f", next launch {template.next_launch_at:%Y-%m-%d %H:%M}" if template.next_launch_at else ""
            self.stdout.write(f"{template.name}: saved{nxt}")

    def do_template_list(self, *, format, **_):
        rows = [
            {
                "name": t.name,
                "scope": t.scope,
                "reviewers": t.reviewers,
                "schedule": t.schedule,
                "next_launch_at": t.next_launch_at.isoformat() if t.next_launch_at else None,
                "duration_days": t.duration.total_seconds() / 86400,
                "on_timeout": t.on_timeout,
                "enabled": t.enabled,
            }
            for t in CampaignTemplate.objects.all()
        ]
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for r in rows:
            self.stdout.write(f"{r['name']}\t{r['schedule'] or 'by hand'}\tnext: {r['next_launch_at'] or '-'}")

    def do_template_preview(self, *, name, format, **_):
        result = campaigns.preview(self._template(name))
        if format == "json":
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(f"{result['items']} items ({result['carried_forward']} carried forward)")
        for email, n in sorted(result["reviewers"].items(), key=lambda kv: -kv[1]):
            self.stdout.write(f"  {n:6}  {email}")

    # --- campaigns ------------------------------------------------------------

    def _template(self, name: str) -> CampaignTemplate:
        template = CampaignTemplate.objects.filter(name=name).first()
        if template is None:
            raise CommandError(f"no template named {name!r} (campaign template list)")
        return template

    def do_launch(self, *, template, wait, **_):
        template = self._template(template)
        if wait:
            try:
                campaign = campaigns.launch(template)
            except campaigns.LaunchError as exc:
                raise CommandError(f"launch failed: {exc}") from None
            self.stdout.write(str(campaign.pk))
            self.stderr.write(f"campaign {campaign.pk} open with {campaign.items.count()} items")
            return
        campaign = campaigns.start(template)
        populate_campaign.delay(campaign.pk)
        self.stdout.write(str(campaign.pk))

    def do_create(self, *, template, wait, **_):
        self.do_launch(template=template, wait=wait)

    def _campaign(self, pk: int) -> Campaign:
        campaign = Campaign.objects.filter(pk=pk).first()
        if campaign is None:
            raise CommandError(f"no campaign {pk}")
        return campaign

    def do_status(self, *, id, format, **_):
        doc = campaigns.status(self._campaign(id))
        if format == "json":
            self.stdout.write(json.dumps(doc, indent=2))
            return
        i, r = doc["items"], doc["revocations"]
        self.stdout.write(f"campaign {doc['id']} ({doc['template']}): {doc['state']}, due {doc['due_at']}")
        if doc["error"]:
            self.stdout.write(f"launch error: {doc['error']}")
        self.stdout.write(
            f"items: {i['total']} total, {i['decided']} decided ({i['approved']} approved, {i['revoked']} revoked, "
            f"{i['downgraded']} downgraded), {i['pending']} pending, {i['gone']} gone, {i['unassigned']} unassigned"
        )
        for rv in doc["reviewers"]:
            self.stdout.write(f"  {rv['email']}: {rv['pending']} of {rv['total']} pending")
        self.stdout.write("revocations: " + ", ".join(f"{k} {v}" for k, v in r.items()))

    def do_close(self, *, id, **_):
        campaign = self._campaign(id)
        if campaign.state == CampaignState.LAUNCHING:
            # A launch still freezing: wait a little rather than refuse a script that closes right after launching.
            for _ in range(30):
                time.sleep(1)
                campaign.refresh_from_db()
                if campaign.state != CampaignState.LAUNCHING:
                    break
        try:
            campaigns.close(campaign)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"campaign {id} closed")

    def do_list(self, *, format, **_):
        rows = [
            {"id": c.pk, "name": c.name, "state": c.state, "due_at": c.due_at.isoformat()}
            for c in Campaign.objects.all()[:200]
        ]
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for r in rows:
            self.stdout.write(f"{r['id']}\t{r['state']}\t{r['due_at']}\t{r['name']}")
