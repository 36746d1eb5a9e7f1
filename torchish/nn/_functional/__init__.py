"""nn._functional: one module per family, re-exported by nn.functional."""
