"""Alert rules: the typed model and the loader that explains every mistake in one line."""

from alerter.rules.loader import LoadResult, RuleSource, load_rules, parse_rule_file, rule_files
from alerter.rules.model import Condition, Rule, Threshold

__all__ = [
    "Condition",
    "LoadResult",
    "Rule",
    "RuleSource",
    "Threshold",
    "load_rules",
    "parse_rule_file",
    "rule_files",
]
