"""Analysis of results: metrics, stability, baselines, zero-cost proxies, reports and plots."""
