"""Weight-sharing strategies: small registered, versioned plugins; the harness owns the loop."""
