"""The topic-level configuration table, now defined in ``brook.config.log``.

Kept importable here for modules that import it from storage.
"""

from __future__ import annotations

from brook.config.defs import ConfigKey, ConfigType, ConfigValue, Synonym, parse_value
from brook.config.log import TOPIC_CONFIGS

__all__ = ["TOPIC_CONFIGS", "ConfigKey", "ConfigType", "ConfigValue", "Synonym", "parse_value"]
