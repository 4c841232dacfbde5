"""chaingraph: trace the black and gray industry chains behind telecom fraud and online gambling."""

__version__ = "0.1.0"
