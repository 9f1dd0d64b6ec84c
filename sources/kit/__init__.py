"""The source kit: each mechanism a source needs, written once and shared by every source.

- `values`: the one rule for values that do not fit their column (kept as text in
  `<column>__v_text`, NUL replaced, counted per field), and timestamp parsing;
- `kinds`: the same rule by declared kind, for APIs that write times as unix seconds;
- `columns`: column hints (timestamps aware, money exact);
- `paging`: an offset pager that proves a listing complete or says why not;
- `listing`: a list read once per run and shared by the resources that plan from it;
- `batches`: rows to dlt in batches with their tables' hints and bookkeeping;
- `sweep`: how many known entities a run re-verifies, and which;
- `notices`: warnings a resource revises as the run goes;
- `backfill`, `frontier`: newest history first: the next window, when it will be done, and
  what a resource's state says of its frontier.

The HTTP client (`sources.http`), the ledger (`sources.bookkeeping`) and deletion proofs
(`sources.deletions`) are shared the same way.
"""
