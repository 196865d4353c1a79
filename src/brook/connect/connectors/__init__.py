"""Built-in connectors. They import ``brook.connect.api`` only, like any third-party plugin."""
