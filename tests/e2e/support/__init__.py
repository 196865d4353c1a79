"""Helpers shared by the end-to-end tests: brokers with split listeners, a TCP proxy, wire frames."""
