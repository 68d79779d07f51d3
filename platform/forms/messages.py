"""The field types' messages (English, from `FieldValueError`) in the user's language.

Field types say what is wrong in English with the value embedded ("must be at least 0");
a form shows the message beside the input, so the value is already in view and only the
rule needs saying. Each known shape maps to a translatable text; anything else stays as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Gettext = Callable[..., str]


def N_(message: str) -> str:
    """Marks a text for translation where it is defined (the catalog translates it later)."""
    return message


# (the field type's English message, the text shown); a named group fills the placeholder.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.S), text)
    for pattern, text in (
        (r"^must be at least (?P<limit>.+)$", N_("Must be at least %(limit)s.")),
        (r"^must be at most (?P<limit>.+)$", N_("Must be at most %(limit)s.")),
        (r"^must be on or after (?P<limit>.+)$", N_("Must be on or after %(limit)s.")),
        (r"^must be on or before (?P<limit>.+)$", N_("Must be on or before %(limit)s.")),
        (
            r"^is [0-9]+ characters long; at most (?P<limit>[0-9]+) allowed$",
            N_("Too long: at most %(limit)s characters."),
        ),
        (
            r"^'.*' is not a valid e-mail address$",
            N_("Enter an e-mail address, e.g. name@example.com."),
        ),
        (
            r"^'.*' is not a valid phone number$",
            N_("Enter a phone number (digits, spaces, + - ( ) only)."),
        ),
        (
            r"^'.*' is not a valid web address",
            N_("Enter a web address starting with http:// or https://."),
        ),
        (r"^'.*' is not one of the options", N_("Choose one of the options.")),
        (r"^expected one of the options", N_("Choose one of the options.")),
        (r"^is too large$", N_("This number is too large.")),
        (r"^'.*' is not a number$", N_("Enter a number, e.g. 1234.56.")),
        (r"^'.*' is not a whole number$", N_("Enter a whole number, e.g. 12.")),
        (r"^'.*' is not a date", N_("Enter a date as YYYY-MM-DD.")),
        (
            r"^'.*' is not a record id$|^expected the id of a record",
            N_("Choose a record from the suggestions."),
        ),
        (
            r"^contains characters that cannot be stored",
            N_("Contains characters that cannot be stored."),
        ),
    )
)


def invalid_message(text: str, gettext: Gettext) -> str:
    """A field type's English message as a translated sentence (unknown ones unchanged)."""
    for pattern, message in PATTERNS:
        match = pattern.match(text)
        if match is not None:
            return gettext(message, **match.groupdict())
    return text
