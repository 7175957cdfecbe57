"""DirectoryBolt: submits a business listing to many online directories."""

__version__ = "0.1.0"
