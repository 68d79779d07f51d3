"""Queries and presentation for pages: lists, boards, calendars, dashboards, record 360."""
