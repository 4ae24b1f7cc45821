"""The answer judge: which retrieved sentences answer a question, how sure that is, and why not.

    judge.py         `Judge`: reads a question, judges the sentences of its passages
    question.py      what the question asks for (spaCy parse: wh-word, focus noun, names)
    answer_types.py  which kinds of entity that answer may be (a table fitted on SQuAD 1.1)
    signals.py       what the question names and how much of it a text holds
    candidates.py    the sentences of the retrieved passages, with their entities
    crosslingual.py  the same judgement for a question in another language than the sources'
    features.py      numbers about each (question, sentence) pair
    model.py         the fitted, calibrated answerability model
    decision.py      answer or abstain, with reasons

It reads the index only through `index.retriever.Retriever`'s read methods. This file imports
nothing: a one-shot `bot ask` imports `question.py` alone in its early parser (`bot.early`).
"""
