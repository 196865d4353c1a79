"""brook's configuration home: one ``ConfigDef`` type, every subsystem's keys, one parser.

``defs`` holds the definition type (Kafka's ``ConfigDef``); ``broker``, ``log``, ``group`` and
``connect_worker`` the keys of each subsystem (Connect's API subclasses the type for
connectors); ``properties`` the Java ``.properties`` reader every config file
goes through. A leaf package: it imports only the standard library (an import-linter contract
holds it to that), so any layer may depend on it.
"""
