import pytest

from connectors.people import import_roster

HEADER = "email,name,manager_email,department,status,end_date,other_emails\n"


@pytest.fixture
def roster(db):
    """Import roster rows (CSV lines without the header); returns the report."""

    def load(*lines: str, partial: bool = False, header: str = HEADER, **kwargs):
        return import_roster(header + "".join(line + "\n" for line in lines), partial=partial, **kwargs)

    return load
