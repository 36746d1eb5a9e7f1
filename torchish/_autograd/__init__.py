"""Level 2: the autograd tape (``graph``) and grad mode (``grad_mode``)."""
