"""The ministry's calendar: dates (deadlines, certificate validity) are Jakarta dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")


def utc_now() -> datetime:
    return datetime.now(UTC)


def ministry_date(moment: datetime) -> date:
    return moment.astimezone(JAKARTA).date()


def ministry_today() -> date:
    return ministry_date(utc_now())
