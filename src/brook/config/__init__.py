"""brook's configuration home: one ``ConfigDef`` type, every subsystem's keys, one parser.

``defs`` holds the definition type (Kafka's ``ConfigDef``); ``broker``, ``log`` and ``group``
the keys of each subsystem; ``properties`` the Java ``.properties`` reader every config file
goes through. A leaf package: it imports only the standard library (an import-linter contract
holds it to that), so any layer may depend on it.
"""
