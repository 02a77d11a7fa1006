"""Running many cells: matrix files, the executor, the results store, reproduce, regression, bench."""
