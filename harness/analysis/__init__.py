"""Analysis of results: stability tables, baselines, zero-cost proxies, reports and the analyses they hold.

Layers, lowest first (each imports only those before it; metrics live below, in ``harness.metrics``):

- helpers that import no analysis: ``labels`` (short ground-truth names), ``markdown`` (cells and tables),
  ``plotting`` (figure house style), ``groups`` (``GroupScores``: what analyses read);
- computations: ``bias``, ``picking``, ``confidence``, ``baselines``, ``zero_cost``, ``truths``,
  ``baseline_cache``, ``summary_rows``, ``stability`` (cell folders -> the summary table and the groups);
- the summary's presentation: ``summary_table`` (Markdown, verdicts), ``plots`` (its figures),
  ``first_screen`` (what a report opens with: per space a row per strategy, its one-word verdict, a paragraph);
- ``analyses/``: one plugin module per report analysis (``compute(groups)`` then ``render(result, name)``);
- entry points: ``report`` (``wsbench report``), ``gt_report`` (``wsbench gt``), ``score_command``
  (``wsbench score``), ``learning_curves`` (``wsbench curves``).
"""
