"""The fault suite, `python -m evals faults`: attack a copy of the seed index and count what is lost.

Each part injects one kind of fault into real processes on a real index and re-asks a set of probe
questions (eval cases the bot answers correctly before any fault) after each one:

- `kills`: `python -m index build` killed with SIGKILL at times spread over a build and at each stage
  (embedding, writing the staging folder, just after publishing);
- `concurrent`: several builds started at once while this process keeps answering;
- `disk`: a build on a full disk and on a read-only index folder (a small tmpfs in a private mount
  namespace; skipped, with the reason, where the machine does not allow one);
- `fuzz-questions`, `fuzz-sources`: hostile questions and source files from a seeded generator.

A fake bot token is in every child's environment and in a private file a hostile source links to;
it must never appear in any output, answer or index file. The figures: inputs tried, faults
injected, answers lost (target 0), secrets leaked (target 0), and any other problem in one line.
"""
