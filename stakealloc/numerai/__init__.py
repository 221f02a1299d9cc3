"""The Numerai tournament GraphQL API, in three parts: `transport` (the bounded session: deadline, body cap,
retries, scrubbing), `client` (the queries) and `parse` (the pure response parsers). The keys come from the
environment and are never printed, logged or stored."""

from .client import Client
from .parse import (
    AccountSlots,
    ScoreRow,
    StakeRow,
    current_stakes,
    locked_stakes,
    parse_configs,
    parse_performances,
    parse_rounds,
    parse_stake_rows,
    parse_submission_scores,
)
from .transport import DEFAULT_URL, MAX_ERRORS_SHOWN, GraphQLError, Transport, check_url, scrub, url_secrets

__all__ = ["Client", "Transport", "GraphQLError", "AccountSlots", "ScoreRow", "StakeRow", "current_stakes",
           "locked_stakes", "parse_configs", "parse_performances", "parse_rounds", "parse_stake_rows",
           "parse_submission_scores", "DEFAULT_URL", "MAX_ERRORS_SHOWN", "check_url", "scrub", "url_secrets"]
