"""digest: a daily newsletter digest generator.

collect (feeds, pages) -> extract -> summarize -> edition -> render -> deliver,
composed by :mod:`digest.pipeline`, scheduled by :mod:`digest.schedule`.
"""

__version__ = "0.1.0"
