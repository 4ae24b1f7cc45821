"""Errors of the eval package; the CLI prints them and exits 1.

EvalError
└── DatasetError   a case in the eval file is malformed (the message names file and line)
"""


class EvalError(Exception):
    """Base class: the message is for the maintainer running the evals."""


class DatasetError(EvalError):
    """The eval set cannot be loaded as written."""
