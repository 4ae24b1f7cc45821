"""News has dates: what "now" is for a question, which answering source wins, and when sources disagree.

    question_time.py  what time a question asks about, read against a reference date ("now")
    values.py         the answer a sentence gives (its new names and figures), to compare sources
    arrange.py        newest answering source first, superseded answers dropped, conflicts kept
    relative.py       "on Wednesday", "last year" in a source, resolved against its publication date

Pure functions over dates, strings and the judge's candidates: no index, no model.
"""
