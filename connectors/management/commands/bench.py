"""bench: GitHub, Harbor, GitLab, people, campaign and review-page benchmarks; `make bench` runs them all."""

from dataclasses import fields, replace
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from connectors import bench, bench_github, bench_gitlab, bench_harbor, bench_people, bench_scale
from reviews import bench_campaign, bench_review

SYSTEMS = ("github", "harbor", "gitlab", "people", "campaign", "review")
REPORTS = {
    "github": "github-foundation.json",
    "harbor": "harbor-registry.json",
    "gitlab": "gitlab-groups.json",
    "people": "people-access.json",
    "campaign": "campaign-launch.json",
    "review": "review-page.json",
}


class Command(BaseCommand):
    help = (
        "Sync a simulated GitHub org, Harbor and GitLab group, and print requests against the lower bound, "
        "re-sync requests, ingest rate and peak memory. Size options apply to every system that has that dimension."
    )

    def add_arguments(self, parser):
        github, harbor = bench_github.FOUNDATION, bench_harbor.REGISTRY
        parser.add_argument(
            "--system", choices=(*SYSTEMS, "all"), default="all", help="which bench to run (default all: GitHub first)"
        )
        parser.add_argument("--small", action="store_true", help="a tenth of the size: a quick check")
        parser.add_argument(
            "--scale",
            choices=tuple(bench_scale.SIZES),
            default=None,
            help='instead: the scale bench at size S, M or L (README "Scale"; report var/bench/scale-SIZE.json)',
        )
        parser.add_argument(
            "--sync-only", action="store_true", help="the scale bench without its database and review-page parts"
        )
        parser.add_argument("--seed", type=int, default=None, help="the seed of each simulated instance")
        group = parser.add_argument_group("GitHub (the org's base permission must not be none)")
        group.add_argument("--members", type=int, default=None, help=f"default {github.members:,}")
        group.add_argument("--repos", type=int, default=None, help=f"default {github.repos:,}")
        group.add_argument("--teams", type=int, default=None, help=f"default {github.teams:,}")
        group.add_argument("--outside-collaborators", type=int, default=None)
        group = parser.add_argument_group("Harbor")
        group.add_argument("--projects", type=int, default=None, help=f"default {harbor.projects:,}")
        group.add_argument("--users", type=int, default=None, help=f"default {harbor.users:,}")
        group.add_argument("--robots", type=int, default=None, help=f"default {harbor.robots:,}")
        group.add_argument("--groups", type=int, default=None, help=f"default {harbor.groups:,}")
        group = parser.add_argument_group("GitLab (also --members and --projects)")
        group.add_argument("--subgroups", type=int, default=None, help=f"default {bench_gitlab.GITLAB.subgroups:,}")
        parser.add_argument(
            "--output-dir",
            type=Path,
            default=Path(settings.VAR_DIR) / "bench",
            help=f"where the JSON reports go ({', '.join(REPORTS.values())})",
        )

    def handle(self, *args, system, small, scale, sync_only, output_dir, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "the bench needs PostgreSQL (it compares with COPY): set DATABASE_URL=postgres://…, "
                "or run `make bench`, which defaults to postgres://postgres@127.0.0.1:5432/pipeaccess_bench"
            )
        benches = {
            "github": (bench_github, bench_github.SMALL if small else bench_github.FOUNDATION),
            "harbor": (bench_harbor, bench_harbor.SMALL if small else bench_harbor.REGISTRY),
            "gitlab": (bench_gitlab, bench_gitlab.SMALL if small else bench_gitlab.GITLAB),
            "people": (bench_people, bench_people.SMALL if small else bench_people.PEOPLE),
            "campaign": (bench_campaign, bench_campaign.SMALL if small else bench_campaign.CAMPAIGN),
            "review": (bench_review, bench_review.SMALL if small else bench_review.REVIEW),
        }
        try:
            if bench.ensure_postgres_database(connection.settings_dict):
                self.stderr.write(f"created database {connection.settings_dict['NAME']}")
            call_command("migrate", interactive=False, verbosity=0)
            if scale is not None:
                self._scale(bench_scale.SIZES[scale], output_dir, () if sync_only else bench_scale.PARTS)
                return
            for name in SYSTEMS if system == "all" else (system,):
                module, preset = benches[name]
                report = module.run(_size(preset, options), workdir=output_dir, say=self.stderr.write)
                output = output_dir / REPORTS[name]
                bench.write_json(report, output)
                self.stdout.write(module.render(report))
                self.stdout.write(f"JSON report: {output}\n")
        except bench.BenchError as exc:
            raise CommandError(str(exc)) from None

    def _scale(self, scale: bench_scale.Scale, output_dir: Path, parts: tuple[str, ...]) -> None:
        report = bench_scale.run(
            scale,
            workdir=output_dir / f"scale-{scale.name}",
            say=self.stderr.write,
            parts=parts,
            s_report=output_dir / "scale-S.json",
        )
        output = output_dir / f"scale-{scale.name}.json"
        bench.write_json(report, output)
        self.stdout.write(bench_scale.render(report))
        self.stdout.write(f"JSON report: {output}\n")


def _size(preset, options: dict):
    """The preset with the options given on the command line (those of the other system are ignored)."""
    given = {field: options[field] for field in (f.name for f in fields(preset)) if options.get(field) is not None}
    return replace(preset, **given)
