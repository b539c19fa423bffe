"""Starface Connector: STARFACE PBX users and agent status into a jtel ACD."""

__version__ = "0.1.0"
